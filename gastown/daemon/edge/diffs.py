"""What a bead changed, in git terms: its commits and its diff.

While the work is in progress (or in review) that is the branch against where it forked
from its base. Once merged it is what landed: the merge commit against its first parent
(the branch's commits are those the merge brought in), so the diff stays non-empty after
the branch is merged and even after it is deleted. A convoy sums its members.
"""

from __future__ import annotations

from typing import Any

from gastown.daemon.vcs import git
from gastown.daemon.store import Row, Store

DIFF_CAP = 500_000


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
    """(state, base rev, head rev, commits range)."""
    repo, head, merged = where["repo"], where["head"], where.get("merge_commit")
    if merged and git.rev_exists(repo, f"{merged}^1"):
        first = f"{merged}^1"
        if git.rev_exists(repo, head):  # the branch's own commits, even after a squash
            fork = git.output(["merge-base", first, head], repo)
            return "merged", first, merged, f"{fork}..{head}" if fork != git.head_sha(repo, head) else f"{first}..{merged}"
        return "merged", first, merged, f"{first}..{merged}"
    fork = git.output(["merge-base", f"origin/{where['target']}", head], repo)
    return "in_progress", fork, head, f"{fork}..{head}"


def bead_diff(where: dict[str, Any], max_bytes: int = 200_000, text: bool = True) -> dict[str, Any]:
    """Commits, stat (text and numbers) and the diff (capped) of one located bead. Blocking."""
    repo = where["repo"]
    try:
        state, base, head, commits_range = _range(where)
        commits = git.log(repo, commits_range, 200)
        stat = git.output(["diff", "--stat", base, head], repo)
        numstat = git.output(["diff", "--numstat", base, head], repo)
        body = git.output(["diff", "--no-color", "--no-ext-diff", base, head], repo) if text else ""
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
