"""What a bead changed, in git terms: its commits and its diff.

While the work is in progress (or in review) that is the branch against where it forked
from its base. Once merged it is what landed: the merge commit against its first parent
(the branch's commits are those the merge brought in), so the diff stays non-empty after
the branch is merged and even after it is deleted. A convoy sums its members.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gastown.daemon.vcs import git, gitread
from gastown.daemon.store import Row, Store

DIFF_CAP = 500_000
_SHA = re.compile(r"^[0-9a-f]{40}$")
_NUMSTAT = re.compile(r"^(\d+|-)\t(\d+|-)\t")
log = logging.getLogger(__name__)


def locate(store: Store, key: str) -> dict[str, Any] | None:
    """Where a bead's work lives (a store read: run it on the town's thread)."""
    bead_id = store.resolve(key)
    row = store.latest_mr_of(bead_id)
    if row is None:
        agent = store.agent_on(bead_id)
        if agent is None or not agent["branch"]:
            return None
        rig = store.rig_get(agent["rig"])
        return {"id": bead_id, "branch": agent["branch"], "target": rig["default_branch"],
                "head": agent["branch"], "repo": rig["repo_path"], "merge_commit": None}
    rig = store.rig_get(row["rig"])
    return {"id": bead_id, "branch": row["branch"], "target": row["target_branch"], "head": row["head_sha"],
            "repo": rig["repo_path"], "merge_commit": row["merge_commit"]}


def _range(where: dict[str, Any]) -> tuple[str, str, str, str]:
    """(state, base rev, head rev, commits range), asking git (the reference answer)."""
    repo, head, merged = where["repo"], where["head"], where.get("merge_commit")
    if merged and git.rev_exists(repo, f"{merged}^1"):
        first = f"{merged}^1"
        if git.rev_exists(repo, head):  # the branch's own commits, even after a squash
            fork = git.output(["merge-base", first, head], repo)
            return "merged", first, merged, f"{fork}..{head}" if fork != git.head_sha(repo, head) else f"{first}..{merged}"
        return "merged", first, merged, f"{first}..{merged}"
    fork = git.output(["merge-base", f"origin/{where['target']}", head], repo)
    return "in_progress", fork, head, f"{fork}..{head}"


def _range_inproc(where: dict[str, Any]) -> tuple[str, str, str, list[dict[str, Any]]]:
    """`_range` and the commit list read with dulwich: (state, base, head, commits).

    The same decisions as `_range`, on shas; `base` keeps `_range`'s spelling (`<merge>^1`)
    because it is part of the answer. Raises gitread.Unreadable where git must decide."""
    repo = gitread.open_repo(where["repo"])
    try:
        merged = where.get("merge_commit")
        if merged:
            m = _maybe(repo, merged)
            if m is not None and m.parents:
                first = gitread.commit(repo, m.parents[0].decode())
                h = _maybe(repo, where["head"])
                if h is not None:
                    fork = gitread.merge_base(repo, first, h)
                    if fork != h.id.decode():
                        return "merged", f"{merged}^1", merged, gitread.log(repo, fork, h.id.decode(), 200)
                return "merged", f"{merged}^1", merged, gitread.log(repo, first.id.decode(), m.id.decode(), 200)
        h = gitread.commit(repo, where["head"])
        fork = gitread.merge_base(repo, gitread.commit(repo, f"origin/{where['target']}"), h)
        return "in_progress", fork, where["head"], gitread.log(repo, fork, h.id.decode(), 200)
    finally:
        repo.close()


def _maybe(repo: Any, rev: str) -> Any:
    """The commit `rev` names, None when git would say it does not exist (a 40-hex sha that is
    absent); any other unresolvable name is left to git (it knows more spellings)."""
    try:
        return gitread.commit(repo, rev)
    except gitread.Unreadable:
        if _SHA.match(rev):
            return None
        raise


def _commits_and_range(where: dict[str, Any]) -> tuple[str, str, str, list[dict[str, Any]]]:
    try:
        return _range_inproc(where)
    except (gitread.Unreadable, KeyError, OSError, ValueError) as exc:  # e.g. a pack gc removed meanwhile
        log.debug("bead %s: commits read by git (%s: %s)", where["id"], type(exc).__name__, exc)
    state, base, head, commits_range = _range(where)
    return state, base, head, git.log(where["repo"], commits_range, 200)


def diff_texts(repo: str, base: str, head: str, text: bool) -> tuple[str, str, str]:
    """(stat, numstat, patch) of base..head from ONE git process (`--numstat --stat [-p]`):
    numstat comes first (one line per file), then the stat (one line per file and the summary),
    then a blank line and the patch. Each part is what its own `git diff` call printed."""
    out = git.run(["diff", "--numstat", "--stat", *(["-p", "--no-color"] if text else []), base, head],
                  repo, what="git diff").stdout
    lines = out.split("\n")
    files = 0
    while files < len(lines) and _NUMSTAT.match(lines[files]):
        files += 1
    numstat = "\n".join(lines[:files])
    stat = "\n".join(lines[files:2 * files + 1]) if files else ""
    patch = "\n".join(lines[2 * files + 1:]) if files else ""
    return stat.strip(), numstat.strip(), patch.strip() if text else ""


def bead_diff(where: dict[str, Any], max_bytes: int = 200_000, text: bool = True) -> dict[str, Any]:
    """Commits, stat (text and numbers) and the diff (capped) of one located bead. Blocking.

    The range and commits are read in process (dulwich, falling back to git where only git
    decides); stat, numbers and the diff come from one `git diff`, whose rename detection, hunk
    context and Myers line counts are what users compare against."""
    repo = where["repo"]
    try:
        state, base, head, commits = _commits_and_range(where)
        stat, numstat, body = diff_texts(repo, base, head, text)
    except git.GitError as exc:
        return {"id": where["id"], "available": False, "reason": str(exc)}
    cap = max(1, min(max_bytes, DIFF_CAP))
    return {"id": where["id"], "available": True, "state": state, "branch": where["branch"],
            "base": f"origin/{where['target']}" if state == "in_progress" else base, "merge_base": base,
            "head": head, "merge_commit": where.get("merge_commit"), "commits": commits, "stat": stat,
            **numbers(numstat), "diff": body[:cap], "truncated": len(body) > cap}


def numbers(numstat: str) -> dict[str, int]:
    """files, insertions, deletions from `git diff --numstat` (binary files count as files)."""
    files = ins = dels = 0
    for line in numstat.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        files += 1
        ins += int(parts[0]) if parts[0].isdigit() else 0
        dels += int(parts[1]) if parts[1].isdigit() else 0
    return {"files": files, "insertions": ins, "deletions": dels}


def convoy_members(convoy: Row) -> list[str]:
    return [m["id"] for m in convoy.get("members") or []]
