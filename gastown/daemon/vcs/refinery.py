"""The merge recipe: deterministic code, never a model running git on the target branch.

For one merge request: fetch; a temporary worktree at the target head; merge, rebase or
squash the polecat branch; run the rig's gates there (exit code, duration, output tail
each); then land: push to the rig's origin (a local repository whose target branch is
checked out is updated only when its working tree is clean, otherwise the result goes to
`gastown/<target>`); verify; clean up. Blocking: the loop runs it in a worker thread.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.daemon.vcs.gates import Gate, GateRunner
from gastown.daemon.vcs import git, riglock
from gastown.daemon.town.crashpoints import crash_point
from gastown.model import FailureCode

log = logging.getLogger("gastown.daemon.vcs.refinery")
CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")


@dataclass
class MergeResult:
    ok: bool
    code: str = ""  # on failure: conflict, gate_failed, gate_timeout, push_rejected, infra
    message: str = ""
    merge_commit: str | None = None
    landed_on: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    retry: bool = False  # the target moved or the remote was unreachable: try again, not the branch's fault
    target: str = ""  # on a conflict: the branch it conflicts with (the rework prompt says how to bring it in)

    def failure(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        failed = [g for g in self.gates if g["exit_code"] != 0]
        if failed:
            details.update(gate=failed[0]["name"], exit_code=failed[0]["exit_code"],
                           output_tail=failed[0]["output_tail"])
        if self.files:
            details["files"] = self.files
        if self.target:
            details["target"] = self.target
        return {"code": self.code, "message": self.message, "source": "refinery", "details": details}


def _short(cmd: str) -> str:
    """A readable gate name from its command: program basenames, at most 40 characters."""
    words = [w.rsplit("/", 1)[-1] if w.startswith("/") else w for w in cmd.split()]
    text = " ".join(words)
    return text if len(text) <= 40 else text[:39] + "…"


def parse_gates(raw: list[Any]) -> list[Gate]:
    """Gates are command strings or {name, cmd, timeout} tables."""
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append(Gate(name=_short(item) or f"gate{i}", cmd=item))
        elif isinstance(item, dict) and isinstance(item.get("cmd"), str):
            out.append(Gate(name=str(item.get("name") or _short(item["cmd"])), cmd=item["cmd"],
                            timeout=float(item.get("timeout", 600))))
        else:
            raise ValueError(f"gate {i} must be a command string or a table with 'cmd'")
    return out


def _conflicted(wt: Path) -> list[str]:
    out = git.output(["diff", "--name-only", "--diff-filter=U"], wt)
    return [f for f in out.splitlines() if f]


def _markers(wt: Path, base: str) -> list[str]:
    """Files whose added lines carry conflict markers (committed by a careless agent)."""
    diff = git.output(["diff", "--unified=0", base, "HEAD"], wt)
    files, current = [], ""
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            current = line[6:]
        elif line.startswith("+") and line[1:].startswith(CONFLICT_MARKERS) and current not in files:
            files.append(current)
    return files


def combine(wt: Path, mode: str, branch: str, base: str, identity: dict[str, str],
            into: str | None = None, head: str | None = None) -> MergeResult | None:
    """Bring the branch onto `base` (checked out in `wt`); None on success, a failure otherwise.
    `into`: the branch the result will land on, named in the merge message. `head`: the
    commit to bring (the sha handed in with `gt done`), so a branch moved after the check
    (every agent can write the clone's branches) changes nothing."""
    target = into or base.removeprefix("origin/").removeprefix("gastown/")
    name, branch = branch, head or branch
    env = {"GIT_AUTHOR_NAME": identity["name"], "GIT_AUTHOR_EMAIL": identity["email"],
           "GIT_COMMITTER_NAME": "gastown refinery", "GIT_COMMITTER_EMAIL": "refinery@gastown"}
    try:
        if mode == "merge":
            git.run(["merge", "--no-ff", "--no-edit", "-m", f"Merge {name} into {target}", branch], wt, env=env)
        elif mode == "squash":
            git.run(["merge", "--squash", branch], wt, env=env)
            msg = git.output(["log", "-1", "--format=%B", branch], wt)
            git.run(["commit", "--no-verify", "-m", msg], wt, env=env)
        elif mode == "rebase":
            committer = git.output(["log", "-1", "--format=%cn%x00%ce", branch], wt).split("\0")
            git.run(["checkout", "-q", "--detach", branch], wt)
            git.run(["rebase", base], wt,
                     env={"GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]})
        else:
            return MergeResult(False, FailureCode.INFRA, f"unknown refinery.merge_mode '{mode}'")
    except git.GitError as exc:
        files = _conflicted(wt)
        for abort in (["merge", "--abort"], ["rebase", "--abort"]):
            git.run(abort, wt, ok=(0, 1, 128))
        if files:
            return MergeResult(False, FailureCode.CONFLICT, f"{name} conflicts with {target} in {', '.join(files)}",
                               files=files, target=target)
        return MergeResult(False, FailureCode.INFRA, str(exc))
    marked = _markers(wt, base)
    if marked:
        return MergeResult(False, FailureCode.CONFLICT, f"conflict markers committed in {', '.join(marked)}", files=marked,
                           target=target)
    return None


def destination(source: str, target: str) -> tuple[str, list[str]]:
    """Where a merge lands and the push options: the target, or `gastown/<target>` when the
    user's checkout of the target has uncommitted changes (never touched)."""
    dest = target
    receive_pack: list[str] = []
    if not git.is_url(source) and Path(source, ".git").exists():
        checked_out = git.run(["symbolic-ref", "--quiet", "--short", "HEAD"], source,
                               ok=(0, 1, 128)).stdout.strip()
        if checked_out == target:
            dirty = git.run(["status", "--porcelain"], source, ok=(0, 128)).stdout.strip()
            if dirty:
                dest = f"gastown/{target}"
            else:  # the user's clean checkout follows the branch (git refuses if that changes)
                receive_pack = ["--receive-pack", "git -c receive.denyCurrentBranch=updateInstead receive-pack"]
    return dest, receive_pack


def land(repo: str, wt: Path, source: str, target: str, sha: str) -> MergeResult:
    """Push the merge result to the rig's origin without ever touching a user's uncommitted work."""
    dest, receive_pack = destination(source, target)
    crash_point("merge.before_push")
    try:
        git.run(["push", *receive_pack, "origin", f"{sha}:refs/heads/{dest}"], wt, what="git push",
                 timeout=git.NETWORK_TIMEOUT)
    except git.GitError as exc:
        text = exc.stderr.lower()
        moved = "non-fast-forward" in text or "fetch first" in text or "rejected" in text
        return MergeResult(False, FailureCode.PUSH_REJECTED if moved else FailureCode.INFRA, str(exc), retry=True)
    remote = git.output(["ls-remote", "origin", f"refs/heads/{dest}"], wt).split()
    if not remote or remote[0] != sha:
        return MergeResult(False, FailureCode.PUSH_UNVERIFIED, f"origin/{dest} is not at {sha[:12]} after the push", retry=True)
    crash_point("merge.pushed")
    with riglock.rig_git(repo):
        git.run(["fetch", "origin", f"+refs/heads/{dest}:refs/remotes/origin/{dest}"], repo)
    note = "" if dest == target else f" (target checkout has uncommitted changes: landed on {dest} instead)"
    return MergeResult(True, merge_commit=sha, landed_on=dest, message=f"merged into {dest}{note}")


MERGE_PREFIX = "gt-merge-"  # a merge's temporary worktree: <tmp or town/merges>/gt-merge-*
STEP_PREFIX = "gt-step-"  # a run step's: <tmp or town/merges>/gt-step-*/wt (gastown.daemon.alarm.steps)


def sweep_merge_worktrees(repo: str) -> list[str]:
    """Remove the temporary merge worktrees a killed refinery left registered in this rig
    clone (`gt-merge-*`, in the temp or the town's merge directory). Called at the loop's
    start, before any merge of the rig runs; a leased one (a merge of this process) is kept
    all the same."""
    removed: list[str] = []
    with riglock.rig_git(repo):
        _sweep(repo, removed)
    return removed


def _sweep(repo: str, removed: list[str]) -> None:
    for wt in git.list_worktrees(repo):
        path = Path(wt.path)
        if wt.bare or not path.name.startswith(MERGE_PREFIX) or riglock.leased(path):
            continue
        git.run(["worktree", "remove", "--force", "--force", str(path)], repo, ok=(0, 128))
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    if removed:
        git.run(["worktree", "prune"], repo, ok=(0, 128))


def _fetch(repo: str) -> None:
    """A fetch under the rig's lock, shared with any that began after this call asked
    (gastown.daemon.vcs.riglock): it rewrites the clone's remote-tracking refs."""
    riglock.fetch_coalesced(repo, lambda: git.fetch(repo))


def landing_base(repo: str, target: str) -> str:
    """Where a merge starts: origin/<target>, or origin/gastown/<target> when earlier results
    were parked there (the user's checkout was dirty) and it still contains the target."""
    parked = f"origin/gastown/{target}"
    if git.run(["rev-parse", "--verify", "--quiet", parked], repo, ok=(0, 1)).returncode != 0:
        return f"origin/{target}"
    contains = git.run(["merge-base", "--is-ancestor", f"origin/{target}", parked], repo, ok=(0, 1, 128))
    return parked if contains.returncode == 0 else f"origin/{target}"


def verified_base(repo: str, target: str) -> str:
    """`landing_base` as a commit the origin itself names, not the clone's remote-tracking
    ref (which an agent able to write the clone's refs could point at commits of its own: a
    merge built on them would land what no review saw). When the origin moved after our
    fetch, the clone's ref is kept: nothing built here can descend from the origin's new
    head, so the push is refused and the merge retried after the next fetch."""
    base = landing_base(repo, target)
    name = base.removeprefix("origin/")
    out = git.output(["ls-remote", "origin", f"refs/heads/{name}", f"refs/heads/{target}"], repo,
                       timeout=git.NETWORK_TIMEOUT)
    heads = {ref.removeprefix("refs/heads/"): sha for sha, ref in (ln.split() for ln in out.splitlines() if ln.strip())}
    sha = heads.get(name) or heads.get(target)
    if not sha:
        raise git.GitError(f"the origin has no branch {target}", "", -1)
    local = git.run(["rev-parse", "--verify", "--quiet", base], repo, ok=(0, 1)).stdout.strip()
    if git.run(["cat-file", "-e", f"{sha}^{{commit}}"], repo, ok=(0, 1, 128)).returncode != 0:
        return local or sha
    if local != sha:
        log.warning("%s in %s is %s, not the origin's %s: merging onto the origin's", base, repo, local[:12], sha[:12])
    return sha


def process(repo: str, source: str, branch: str, target: str, *, mode: str, gates: list[Gate],
            identity: dict[str, str], expect_head: str | None = None, gate_runner: GateRunner,
            workdir: Path | None = None, land_it: bool = True) -> MergeResult:
    """The whole recipe for one merge request. `workdir`: where the temporary merge worktree
    goes (a container town's gates need it inside the bind-mounted town directory). With
    land_it=False (the pr strategy) it stops after the gates: the result says whether the
    branch merges cleanly and passes them."""
    try:
        _fetch(repo)
    except git.GitError as exc:
        return MergeResult(False, FailureCode.INFRA, f"fetch failed: {exc}", retry=True)
    if not git.branch_exists(repo, branch) and branch.startswith("gastown/convoy/") and \
            git.run(["rev-parse", "--verify", "--quiet", f"origin/{branch}"], repo, ok=(0, 1)).returncode == 0:
        with riglock.rig_git(repo):  # a convoy landing: its integration branch, a ref of the shared clone
            git.run(["branch", "-f", branch, f"origin/{branch}"], repo)
    if not git.branch_exists(repo, branch):
        return MergeResult(False, FailureCode.INFRA, f"branch {branch} no longer exists")
    head = git.head_sha(repo, branch)
    if expect_head and head != expect_head:
        return MergeResult(False, FailureCode.HEAD_MOVED, f"{branch} is at {head[:12]}, not the {expect_head[:12]} handed in")
    try:
        base = verified_base(repo, target)
    except git.GitError as exc:
        return MergeResult(False, FailureCode.INFRA, f"landing base: {exc}", retry=True)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    wt = Path(tempfile.mkdtemp(prefix=MERGE_PREFIX, dir=workdir))
    shutil.rmtree(wt)
    with riglock.lease(wt):  # the witness's sweep leaves this worktree alone until it is removed below
        try:
            with riglock.rig_git(repo):
                git.run(["worktree", "add", "--detach", str(wt), base], repo, what="git worktree add")
            return _merge_in(repo, wt, source, branch, target, base, mode=mode, gates=gates, identity=identity,
                             gate_runner=gate_runner, land_it=land_it, head=head)
        finally:
            with riglock.rig_git(repo):
                git.run(["worktree", "remove", "--force", "--force", str(wt)], repo, ok=(0, 128))
                shutil.rmtree(wt, ignore_errors=True)
                git.run(["worktree", "prune"], repo, ok=(0, 128))


def _merge_in(repo: str, wt: Path, source: str, branch: str, target: str, base: str, *, mode: str,
              gates: list[Gate], identity: dict[str, str], gate_runner: GateRunner, land_it: bool,
              head: str) -> MergeResult:
    """Combine `head` (the branch's sha handed in), gate and land in the temporary worktree
    `wt` (checked out at `base`)."""
    failed = combine(wt, mode, branch, base, identity, into=destination(source, target)[0], head=head)
    if failed:
        return failed
    results = []
    for gate in gates:
        result = gate_runner(gate, wt)
        results.append(result)
        if result["exit_code"] != 0:
            code = FailureCode.GATE_TIMEOUT if result["timed_out"] else FailureCode.GATE_FAILED
            why = f"timed out after {gate.timeout:g}s" if result["timed_out"] else f"exited {result['exit_code']}"
            return MergeResult(False, code, f"gate '{gate.name}' {why}", gates=results)
    if not land_it:
        return MergeResult(True, message="gates passed", gates=results)
    sha = git.head_sha(wt)
    landed = land(repo, wt, source, target, sha)
    landed.gates = results
    return landed


# ---------------------------------------------------------------- the pr strategy
def _github_repo(source: str) -> str | None:
    for prefix in ("https://github.com/", "git@github.com:", "ssh://git@github.com/"):
        if source.startswith(prefix):
            return source[len(prefix):].removesuffix(".git")
    return None


def open_pr(repo: str, source: str, branch: str, target: str, title: str, body: str) -> str | None:
    """Push the branch; open a pull request with `gh` when it is installed and the origin
    is on GitHub. Returns the PR URL, or None when only the branch was pushed."""
    git.run(["push", "--force", "origin", f"refs/heads/{branch}:refs/heads/{branch}"], repo, what="git push",
             timeout=git.NETWORK_TIMEOUT)
    gh, slug = shutil.which("gh"), _github_repo(source)
    if not gh or not slug:
        return None
    proc = subprocess.run([gh, "pr", "create", "--repo", slug, "--base", target, "--head", branch, "--title", title,
                           "--body", body], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise git.GitError(f"gh pr create failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}",
                           proc.stderr, proc.returncode)
    return proc.stdout.strip().splitlines()[-1]


def conflict_files(repo: str, branch: str, target: str) -> list[str]:
    """Files that conflict when `branch` meets origin/<target> (git merge-tree, no worktree)."""
    try:
        _fetch(repo)
    except git.GitError:
        pass  # judge on what we have
    proc = subprocess.run(["git", "-C", repo, "merge-tree", "--write-tree", "--name-only", "--no-messages",
                           f"origin/{target}", branch], capture_output=True, text=True)
    if proc.returncode != 1:
        return []
    return [f for f in proc.stdout.splitlines()[1:] if f]


def ensure_branch(repo: str, branch: str, base: str) -> None:
    """A convoy's integration branch exists on the origin (cut from `base`) before the first
    member merges into it."""
    if git.output(["ls-remote", "origin", f"refs/heads/{branch}"], repo, timeout=git.NETWORK_TIMEOUT):
        return
    _fetch(repo)
    git.run(["push", "origin", f"{git.head_sha(repo, base)}:refs/heads/{branch}"], repo, what="git push",
             timeout=git.NETWORK_TIMEOUT)
    _fetch(repo)


def push_branch(repo: str, branch: str) -> None:
    git.run(["push", "--force", "origin", f"refs/heads/{branch}:refs/heads/{branch}"], repo, what="git push",
             timeout=git.NETWORK_TIMEOUT)


def poll_pr(repo: str, branch: str, target: str, head: str, pr_url: str | None) -> tuple[str, str | None]:
    """('merged', sha) once the handed-in head is in the remote target; ('closed', None)
    when the PR was closed unmerged or the branch vanished unmerged; else ('waiting', None)."""
    _fetch(repo)
    target_sha = git.head_sha(repo, f"origin/{target}")
    merged = git.run(["merge-base", "--is-ancestor", head, target_sha], repo, ok=(0, 1, 128)).returncode == 0
    if merged:
        return "merged", target_sha
    gh = shutil.which("gh")
    if gh and pr_url and pr_url.startswith("https://"):
        proc = subprocess.run([gh, "pr", "view", pr_url, "--json", "state", "-q", ".state"], capture_output=True,
                              text=True, timeout=60)
        state = proc.stdout.strip() if proc.returncode == 0 else ""
        if state == "MERGED":  # e.g. squash-merged on GitHub: the handed-in head is not an ancestor
            return "merged", target_sha
        if state == "CLOSED":
            return "closed", None
    if not git.output(["ls-remote", "origin", f"refs/heads/{branch}"], repo):
        return "closed", None
    return "waiting", None


def retire_branch(repo: str, branch: str, *, remote: bool) -> None:
    """After a merge: detach the polecat's (clean) worktree from the branch, delete it
    locally and, when it was pushed, on the origin. A dirty worktree keeps its branch."""
    with riglock.rig_git(repo):
        retired = _retire(repo, branch)
    if retired and remote:
        git.run(["push", "origin", "--delete", branch], repo, ok=(0, 1), timeout=git.NETWORK_TIMEOUT)


def _retire(repo: str, branch: str) -> bool:
    for wt in git.list_worktrees(repo):
        if wt.branch == branch and wt.path.exists():
            if git.dirty_files(wt.path):
                return False
            git.run(["switch", "--detach"], wt.path)
    if git.branch_exists(repo, branch):
        git.delete_branch(repo, branch, force=True)
    return True
