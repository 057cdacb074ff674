"""Git primitives for the daemon: rig clones, polecat worktrees, commits and safe cleanup.

Why the git CLI (not dulwich) for everything here: writes must behave exactly like the git
the user and the agents run (worktree metadata, hooks config, index format, locking), and
the safety checks that guard against losing work must agree with what `git status` and
`git rev-list` say. A git subprocess costs a few milliseconds, which the reconciler can
afford. The bead views' hot read-only path (revisions, merge bases, commit lists) is read in
process with dulwich in `gitread.py`, falling back to these functions where only git decides.

Every call goes through `run`, which:
  - runs `git -C <dir> ...` with a timeout, in its own process group so that a timeout
    also kills ssh / pack-objects children (otherwise a lingering child holds the pipes
    open and the caller hangs);
  - strips the caller's repository-local variables (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE
    ... the `git rev-parse --local-env-vars` list) and any inherited GIT_AUTHOR_* /
    GIT_COMMITTER_* identity, so a daemon started from inside a hook or a worktree
    cannot act on the wrong repository or commit as the wrong person;
  - sets GIT_TERMINAL_PROMPT=0 and detaches from the terminal, so a credential or ssh
    prompt fails fast instead of hanging a daemon nobody is watching;
  - sets LC_ALL=C so the messages we parse and show are stable;
  - never runs repository code: hooks are off (an empty `core.hooksPath`), `core.fsmonitor`
    is off and the `ext::` transport refused (`SAFE_CONFIG`, given with `-c`, beats any file),
    and `scrub_config` removes from the rig clone's own config every key that names a
    program (filters, diff drivers, ssh/credential/pager commands, includes...) an agent
    could have planted there. The environment is the allow-list, not the daemon's.

Every failure raises `GitError` whose `message` is one line a user can act on; the full
stderr and the return code ride along for logs.

Layout (DESIGN §5): the town keeps a BARE clone of each rig (`clone_rig`) with the
standard remote-tracking refspec, so `origin/<branch>` is what the rig's origin had at
the last `fetch`. Polecat branches `gt/<agent>/<bead-id>` and their worktrees hang off
that clone; agents never push, the daemon does.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "GitError",
    "UnsafeWorktreeError",
    "WorktreeState",
    "WorktreeInfo",
    "is_url",
    "validate_source",
    "default_branch",
    "clone_rig",
    "fetch",
    "add_worktree",
    "list_worktrees",
    "worktree_state",
    "remove_worktree",
    "commit_all",
    "commits_ahead",
    "head_sha",
    "branch_exists",
    "delete_branch",
    "log",
    "diff",
]

# Timeouts (seconds). Local operations are fast; network ones get room for big repos.
LOCAL_TIMEOUT = 60.0
NETWORK_TIMEOUT = 600.0
LS_REMOTE_TIMEOUT = 60.0

# `git rev-parse --local-env-vars` (git 2.39): variables that pin git to one repository.
_LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)
_IDENTITY_ENV_VARS = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
)

# `-c` settings on every daemon git call: no hook, no fsmonitor, no ext:: transport.
SAFE_CONFIG = ("core.hooksPath=", "core.fsmonitor=false", "protocol.ext.allow=never", "core.pager=cat",
               "core.editor=true", "sequence.editor=true",
               # worktrees of a container town's agents are theirs (own uids): git's ownership
               # check would refuse them; what it guards against is neutralised above
               "safe.directory=*")
# Keys in a repository's own config that make git run a program (or read another config file).
_PROGRAM_KEYS = re.compile(
    r"^(core\.(fsmonitor|sshcommand|hookspath|pager|editor|askpass|gitproxy|attributesfile|alternaterefscommand)"
    r"|sequence\.editor|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver|filter\..+"
    r"|credential\..*|include\..*|includeif\..*|gpg\..*program|uploadpack\..*|remote\..+\.(uploadpack|receivepack|proxy)"
    r"|http\..*proxy|url\..+\.(insteadof|pushinsteadof)|pager\..*|alias\..*|protocol\..*"
    r"|extensions\.worktreeconfig|core\.worktree|submodule\..+\.update|blame\.ignorerevsfile)$",
    re.IGNORECASE)

_URL_SCHEME_RE = re.compile(r"^(?:https?|ssh|git|file|git\+ssh|ssh\+git)://", re.IGNORECASE)
# scp-like syntax: user@host:path (no slash before the colon, so ./a@b:c stays a path).
_SCP_RE = re.compile(r"^[^@/\s:]+@[^@/\s:]+:[^\s]+$")


class GitError(Exception):
    """A git operation failed. `message` is one actionable line; `stderr` is git's full
    output for the log; `returncode` is git's exit code (-1: timeout / git not runnable)."""

    def __init__(self, message: str, stderr: str = "", returncode: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.returncode = returncode

    def __str__(self) -> str:
        return self.message


class UnsafeWorktreeError(GitError):
    """Removing the worktree would lose uncommitted or unpushed work (refused)."""


@dataclass(frozen=True)
class WorktreeState:
    """What a worktree holds that is not safe anywhere else yet.

    dirty: tracked changes (staged or not) or untracked files that .gitignore does not
    ignore. unpushed: commits reachable from HEAD but from neither `base` nor any
    `refs/remotes/origin/*` — the ones lost if the worktree and its branch disappear.
    """

    path: Path
    head: str
    branch: str | None  # short name, None when HEAD is detached
    dirty: bool
    dirty_files: tuple[str, ...]
    commits_ahead: int
    unpushed: int

    @property
    def safe_to_remove(self) -> bool:
        return not self.dirty and self.unpushed == 0


@dataclass(frozen=True)
class WorktreeInfo:
    """One entry of `git worktree list --porcelain`."""

    path: Path
    head: str | None
    branch: str | None  # short name (refs/heads/ stripped), None when detached or bare
    bare: bool = False
    detached: bool = False
    locked: bool = False
    prunable: bool = False
    extra: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- plumbing


# What of the daemon's environment git itself may see: the basics, and what it needs to reach
# a user's origin (ssh agent, proxies, a HOME for ~/.gitconfig and credentials). Git children
# (hooks are off) are the remote helpers, never repository code.
_GIT_PASS = ("HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS",
             "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY",
             "GIT_SSL_CAINFO", "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL",
             "GIT_CONFIG_NOSYSTEM", "GIT_TRACE")


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    from gastown.daemon.town import agentenv

    env = agentenv.basic()
    env.update({k: os.environ[k] for k in _GIT_PASS if k in os.environ})
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    env["LANGUAGE"] = "C"
    env["GIT_PAGER"] = "cat"
    env["GIT_EDITOR"] = "true"  # never open an editor (merge/rebase messages keep defaults)
    if extra:
        env.update(extra)
    return env


def _first_error_line(stderr: str) -> str:
    """The line of git's stderr worth showing: the first fatal:/error:, else the last line.

    Plain "first line" is often progress ("Cloning into bare repository ..."), useless to a
    user, so prefer the line git marks as the error and strip its prefix.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "no error output"
    for ln in lines:
        for prefix in ("fatal: ", "error: "):
            if ln.startswith(prefix):
                return ln[len(prefix) :]
    return lines[-1]


def run(
    args: Sequence[str],
    cwd: Path | str | None = None,
    *,
    what: str | None = None,
    timeout: float = LOCAL_TIMEOUT,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    ok: Sequence[int] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run `git [-C cwd] args...`; raise GitError unless the exit code is in `ok`."""
    if args and args[0] == "diff":  # diff drivers and textconv are programs too
        args = ["diff", "--no-ext-diff", "--no-textconv", *args[1:]]
    cmd = ["git"]
    for setting in SAFE_CONFIG:
        cmd += ["-c", setting]
    if cwd is not None:
        cmd += ["-C", str(cwd)]
    cmd += list(args)
    label = what or f"git {args[0]}"
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=_env(env),
            start_new_session=True,  # no controlling tty; killpg reaches ssh children
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH", str(exc), -1) from exc
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        raise GitError(f"{label} timed out after {timeout:g}s", err or "", -1) from None
    if proc.returncode not in ok:
        raise GitError(f"{label} failed: {_first_error_line(err)}", err, proc.returncode)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def scrub_config(repo: Path | str) -> list[str]:
    """Remove from the clone's own config (and worktree configs) every key that makes git run a
    program; returns the keys removed (the daemon logs them: someone planted them)."""
    common = Path(output(["rev-parse", "--git-common-dir"], _resolve(repo)))
    if not common.is_absolute():
        common = _resolve(repo) / common
    files = [common / "config", *sorted((common / "worktrees").glob("*/config.worktree"))]
    removed = []
    for path in files:
        if not path.is_file():
            continue
        names = run(["config", "--file", str(path), "--name-only", "--list"], ok=(0, 1)).stdout.split()
        for name in dict.fromkeys(names):
            if _PROGRAM_KEYS.match(name):
                run(["config", "--file", str(path), "--unset-all", name], ok=(0, 5))
                removed.append(f"{path.name}:{name}")
    return removed


def output(args: Sequence[str], cwd: Path | str | None = None, **kw: Any) -> str:
    return run(args, cwd, **kw).stdout.strip()


def _check_rev(rev: str, what: str = "revision") -> None:
    """Refuse names git would parse as options (option injection) or that are empty."""
    if not rev or rev.startswith("-") or "\n" in rev or "\0" in rev:
        raise GitError(f"invalid {what}: {rev!r}", "", -1)


def check_branch_name(branch: str) -> None:
    _check_rev(branch, "branch name")
    try:
        run(["check-ref-format", "--branch", branch], what="git check-ref-format")
    except GitError as exc:
        raise GitError(f"invalid branch name: {branch!r}", exc.stderr, exc.returncode) from None


def _resolve(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def rev_exists(cwd: Path | str, rev: str) -> bool:
    _check_rev(rev)
    r = run(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd, ok=(0, 1, 128))
    return r.returncode == 0


# --------------------------------------------------------------------------- sources


def is_url(s: str) -> bool:
    """True for remote-looking sources (https/http/ssh/git/file URLs and user@host:path).

    Decides whether `gt rig add` treats its argument as a path to resolve on disk or as a
    URL to hand to git untouched.
    """
    s = s.strip()
    return bool(_URL_SCHEME_RE.match(s) or _SCP_RE.match(s))


def _local_repo_check(path: Path) -> None:
    """The directory itself must be a repository (work tree top or bare git dir).

    GIT_CEILING_DIRECTORIES stops git's upward discovery at the parent, so a plain
    directory inside some other repository (a dotfiles $HOME!) is not mistaken for it.
    """
    if not path.exists():
        raise GitError(f"no such directory: {path}", "", -1)
    if not path.is_dir():
        raise GitError(f"not a directory: {path}", "", -1)
    ceiling = {"GIT_CEILING_DIRECTORIES": str(path.parent)}
    try:
        r = run(["rev-parse", "--is-bare-repository", "--absolute-git-dir"], path, env=ceiling, ok=(0, 128))
    except GitError as exc:
        raise GitError(f"not a git repository: {path}", exc.stderr, exc.returncode) from None
    if r.returncode != 0:
        raise GitError(f"not a git repository: {path}", r.stderr, r.returncode)
    lines = r.stdout.split("\n")
    if lines[0].strip() == "true":
        top = lines[1].strip() if len(lines) > 1 else ""
    else:
        t = run(["rev-parse", "--show-toplevel"], path, env=ceiling, ok=(0, 128))
        if t.returncode != 0:  # e.g. the .git directory of a non-bare repository
            raise GitError(f"not a git repository: {path}", t.stderr, t.returncode)
        top = t.stdout.strip()
    if not top or _resolve(top) != path:
        raise GitError(
            f"not a git repository: {path} (it is inside {top or 'a repository'}; "
            "give the repository's top directory)",
            r.stderr,
            -1,
        )


def validate_source(path_or_url: str) -> str:
    """Check a rig source before anything is created and return its canonical form.

    Local path: resolved to an absolute path that must be a git repository with at least
    one commit. URL: must answer `git ls-remote` and have at least one ref. Failing here,
    with a clear line, beats failing halfway through `gt rig add`.
    """
    src = path_or_url.strip()
    if not src:
        raise GitError("empty repository path or URL", "", -1)
    if is_url(src):
        try:
            r = run(["ls-remote", "--", src], what="git ls-remote", timeout=LS_REMOTE_TIMEOUT)
        except GitError as exc:
            raise GitError(
                f"cannot read repository {src}: {_first_error_line(exc.stderr)}"
                if exc.returncode != -1
                else f"cannot read repository {src}: {exc.message}",
                exc.stderr,
                exc.returncode,
            ) from None
        if not any("\trefs/heads/" in ln for ln in r.stdout.splitlines()):
            raise GitError(f"repository has no commits: {src}", r.stderr, 0)
        return src
    path = _resolve(src)
    _local_repo_check(path)
    heads = output(["for-each-ref", "--count=1", "--format=%(objectname)", "refs/heads/"], path)
    if not heads:
        raise GitError(f"repository has no commits: {path}", "", 0)
    return str(path)


def default_branch(source: str) -> str:
    """The branch the source's HEAD points at: what a rig tracks when no --branch is given."""
    src = source.strip()
    if is_url(src):
        r = run(
            ["ls-remote", "--symref", "--", src, "HEAD"],
            what="git ls-remote",
            timeout=LS_REMOTE_TIMEOUT,
        )
        for ln in r.stdout.splitlines():
            if ln.startswith("ref: ") and ln.endswith("\tHEAD"):
                ref = ln[len("ref: ") :].split("\t", 1)[0]
                if ref.startswith("refs/heads/"):
                    return ref[len("refs/heads/") :]
        raise GitError(f"cannot tell the default branch of {src}; pass --branch", r.stdout, 0)
    path = _resolve(src)
    _local_repo_check(path)
    r = run(["symbolic-ref", "--quiet", "HEAD"], path, ok=(0, 1))
    ref = r.stdout.strip()
    if r.returncode != 0 or not ref.startswith("refs/heads/"):
        raise GitError(f"HEAD is detached in {path}; pass --branch", r.stderr, r.returncode)
    return ref[len("refs/heads/") :]


# --------------------------------------------------------------------------- rig clone


def clone_rig(source: str, dest: Path, branch: str | None = None) -> str:
    """Create the town's bare clone of a rig and return the branch it tracks.

    Bare, because the clone only hosts polecat worktrees and the refinery's temporary
    merge worktrees; a working tree of its own would be one more checkout to keep clean
    and would pin a branch. The standard refspec `+refs/heads/*:refs/remotes/origin/*`
    (a plain `clone --bare` has none) makes `fetch` update `origin/<branch>` without ever
    moving local branches, so agent branches and origin's branches never collide. The
    branch copies `clone --bare` makes under refs/heads/ are deleted: they would go stale
    after the next fetch and invite merges onto an old base.

    Nothing is left at `dest` if anything fails (including "branch X not found").
    """
    src = source.strip()
    dest = Path(dest).expanduser().absolute()
    if branch is not None:
        check_branch_name(branch)
    created = False
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise GitError(f"destination already exists: {dest}", "", -1)
    else:
        created = True
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        run(
            # --no-hardlinks: objects hardlinked to the user's repository would share its
            # modes and be one chmod away from an agent (who may write the clone's objects)
            ["clone", "--bare", "--quiet", "--no-hardlinks", "--", src, str(dest)],
            what="git clone",
            timeout=NETWORK_TIMEOUT,
        )
        from gastown.daemon.town.private import tighten

        tighten(dest)  # copied files keep the source's modes: owner-only here
        run(["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"], dest)
        # Bare repos keep no reflogs by default; turn them on so a lost branch is recoverable.
        run(["config", "core.logAllRefUpdates", "true"], dest)
        run(["fetch", "--prune", "--quiet", "origin"], dest, what="git fetch", timeout=NETWORK_TIMEOUT)
        if branch is None:
            r = run(["symbolic-ref", "--quiet", "HEAD"], dest, ok=(0, 1))
            ref = r.stdout.strip()
            branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
            if branch is None:
                branch = default_branch(src)
        # Drop the refs/heads/* copies made by `clone --bare` (see docstring).
        heads = output(["for-each-ref", "--format=%(refname)", "refs/heads/"], dest)
        if heads:
            script = "".join(f"delete {ref}\n" for ref in heads.splitlines())
            run(["update-ref", "--stdin"], dest, input=script)
        if not rev_exists(dest, f"refs/remotes/origin/{branch}"):
            raise GitError(f"branch {branch} not found in {src}", "", -1)
        run(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], dest)
        run(["symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{branch}"], dest)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:  # dest was an empty directory we were given: empty it again
            for child in dest.iterdir() if dest.exists() else ():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    return branch


def fetch(repo: Path | str, timeout: float = NETWORK_TIMEOUT) -> None:
    """Update `origin/*` in a rig clone (with --prune, so deleted remote branches vanish).

    Pruning only makes the unpushed-work check stricter, never looser. Uses the user's own
    git credentials (ssh agent, helpers); nothing is prompted. Scrubs the clone's config first:
    every turn and every merge starts with a fetch, so planted program keys never get used.
    """
    planted = scrub_config(repo)
    if planted:
        logging.getLogger("gastown.daemon.vcs.git").warning("removed planted config from %s: %s", repo,
                                                          ", ".join(planted))
    run(["fetch", "--prune", "--quiet", "origin"], _resolve(repo), what="git fetch", timeout=timeout)


# --------------------------------------------------------------------------- worktrees


def list_worktrees(repo: Path | str) -> list[WorktreeInfo]:
    """All worktrees git knows for `repo` (the bare clone itself comes first, bare=True).

    Lets the daemon reconcile its records with what is on disk after a crash or restart.
    """
    out = run(["worktree", "list", "--porcelain"], _resolve(repo)).stdout
    result: list[WorktreeInfo] = []
    for block in out.strip().split("\n\n"):
        if not block.strip():
            continue
        attrs: dict[str, str] = {}
        for ln in block.splitlines():
            key, _, value = ln.partition(" ")
            attrs[key] = value
        branch = attrs.get("branch")
        if branch and branch.startswith("refs/heads/"):
            branch = branch[len("refs/heads/") :]
        known = {"worktree", "HEAD", "branch", "bare", "detached", "locked", "prunable"}
        result.append(
            WorktreeInfo(
                path=Path(attrs.get("worktree", "")),
                head=attrs.get("HEAD"),
                branch=branch,
                bare="bare" in attrs,
                detached="detached" in attrs,
                locked="locked" in attrs,
                prunable="prunable" in attrs,
                extra={k: v for k, v in attrs.items() if k not in known},
            )
        )
    return result


def _find_worktree(repo: Path, path: Path) -> WorktreeInfo | None:
    for wt in list_worktrees(repo):
        if not wt.bare and _resolve(wt.path) == path:
            return wt
    return None


def add_worktree(repo: Path | str, path: Path | str, branch: str, base: str) -> None:
    """Give a polecat its own checkout: branch `branch` (new, from `base`) at `path`.

    If the branch already exists it is reused as is (a re-slung bead continues its work;
    `base` is then ignored). Idempotent: if `path` is already the worktree of `branch`,
    nothing happens (daemon restart). Stale metadata of a deleted worktree directory is
    pruned first. New branches get no upstream (--no-track), so an agent's `git push` /
    `git pull` cannot silently target the rig's main branch.
    """
    repo_p = _resolve(repo)
    path_p = _resolve(path)
    check_branch_name(branch)
    run(["worktree", "prune"], repo_p)
    existing = _find_worktree(repo_p, path_p)
    if existing is not None:
        if existing.branch == branch and path_p.exists():
            return
        raise GitError(
            f"{path_p} is already a worktree of {existing.branch or 'a detached HEAD'}, not {branch}",
            "",
            -1,
        )
    if path_p.exists() and (not path_p.is_dir() or any(path_p.iterdir())):
        raise GitError(f"worktree path already exists and is not empty: {path_p}", "", -1)
    path_p.parent.mkdir(parents=True, exist_ok=True)
    if branch_exists(repo_p, branch):
        run(["worktree", "add", "--", str(path_p), branch], repo_p, what="git worktree add")
    else:
        _check_rev(base, "base")
        if not rev_exists(repo_p, base):
            raise GitError(f"base {base} not found in {repo_p} (fetch first?)", "", -1)
        run(
            ["worktree", "add", "--no-track", "-b", branch, "--", str(path_p), base],
            repo_p,
            what="git worktree add",
        )


def dirty_files(path: Path) -> list[str]:
    # GIT_OPTIONAL_LOCKS=0: a status refresh must not take index.lock under a working agent
    # (its next `git add` would fail with "index.lock exists").
    out = run(
        ["status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignore-submodules=none"],
        path,
        env={"GIT_OPTIONAL_LOCKS": "0"},
    ).stdout
    files: list[str] = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        files.append(entry[3:])
        if entry[0] in "RC":  # rename/copy: the next NUL field is the source path
            i += 1
    return files


def _is_worktree(path: Path) -> bool:
    if not path.is_dir():
        return False
    r = run(
        ["rev-parse", "--is-inside-work-tree", "--show-toplevel"],
        path,
        env={"GIT_CEILING_DIRECTORIES": str(path.parent)},
        ok=(0, 128),
    )
    lines = r.stdout.split("\n")
    return r.returncode == 0 and lines[0].strip() == "true" and _resolve(lines[1].strip()) == path


def worktree_state(path: Path | str, base: str) -> WorktreeState:
    """Everything `remove_worktree` and the reconciler need to know about a worktree.

    `unpushed` counts commits on HEAD reachable from neither `base` nor any
    `refs/remotes/origin/*` (as of the last fetch): the work that exists nowhere else.
    """
    path_p = _resolve(path)
    if not _is_worktree(path_p):
        raise GitError(f"not a git worktree: {path_p}", "", -1)
    _check_rev(base, "base")
    if not rev_exists(path_p, base):
        raise GitError(f"base {base} not found in {path_p}", "", -1)
    head = head_sha(path_p)
    r = run(["symbolic-ref", "--quiet", "--short", "HEAD"], path_p, ok=(0, 1))
    branch = r.stdout.strip() if r.returncode == 0 else None
    files = dirty_files(path_p)
    ahead = commits_ahead(path_p, base, "HEAD")
    unpushed = int(
        output(["rev-list", "--count", "HEAD", "--not", base, "--remotes=origin"], path_p) or "0"
    )
    return WorktreeState(
        path=path_p,
        head=head,
        branch=branch,
        dirty=bool(files),
        dirty_files=tuple(files),
        commits_ahead=ahead,
        unpushed=unpushed,
    )


def remove_worktree(repo: Path | str, path: Path | str, base: str, force: bool = False) -> None:
    """Delete a polecat worktree — never one that holds uncommitted or unpushed work.

    Refuses with UnsafeWorktreeError (naming the files / commit count) when the tree is
    dirty or HEAD has commits reachable from neither `base` nor any origin branch.
    `force=True` is for explicit human intent only (`gt ... --force`): it skips the check
    and passes `--force --force` to git (also removing a locked worktree), DESTROYING the
    uncommitted files; commits stay reachable from the branch, which is not deleted here.
    Without force, git's own clean-tree check runs again at removal time, closing the race
    with an agent writing between our check and the delete. Idempotent: a missing worktree
    only has its metadata pruned. The branch is left alone (see `delete_branch`).
    """
    repo_p = _resolve(repo)
    path_p = _resolve(path)
    registered = _find_worktree(repo_p, path_p)
    if registered is None and path_p.exists():
        raise GitError(f"{path_p} is not a worktree of {repo_p}", "", -1)
    if registered is None or not path_p.exists():
        run(["worktree", "prune"], repo_p)  # already gone: drop git's stale metadata
        return
    if not force:
        state = worktree_state(path_p, base)
        if not state.safe_to_remove:
            lost: list[str] = []
            if state.dirty:
                shown = ", ".join(state.dirty_files[:3])
                more = f", +{len(state.dirty_files) - 3} more" if len(state.dirty_files) > 3 else ""
                lost.append(f"{len(state.dirty_files)} uncommitted file(s) ({shown}{more})")
            if state.unpushed:
                on = f" on {state.branch}" if state.branch else ""
                lost.append(f"{state.unpushed} unpushed commit(s){on}")
            raise UnsafeWorktreeError(
                f"refusing to remove worktree {path_p}: it holds {' and '.join(lost)}; "
                "commit and merge them, or remove with --force to discard",
                "",
                -1,
            )
        run(["worktree", "remove", "--", str(path_p)], repo_p, what="git worktree remove")
    else:
        run(
            ["worktree", "remove", "--force", "--force", "--", str(path_p)],
            repo_p,
            what="git worktree remove",
        )
    run(["worktree", "prune"], repo_p)


# --------------------------------------------------------------------------- commits


def commit_all(
    worktree: Path | str,
    message: str,
    author_name: str,
    author_email: str,
    committer_name: str,
    committer_email: str,
    trailers: Mapping[str, str] | None = None,
) -> str | None:
    """Stage everything (`git add -A`) and commit; return the new sha, or None if clean.

    Identity (DESIGN §5): the human who asked is the Author, the agent the Committer, and
    trailers (`Bead-ID:`, `Requested-by:`) tie the commit to its bead — so `git log`
    answers "who asked for this and why" without the town's database. Hooks are skipped
    (--no-verify) and signing is off: this is the daemon saving an agent's work, the gates
    are the refinery's job, and a hook or a gpg pinentry must not block or hang it.
    """
    wt = _resolve(worktree)
    if not message.strip():
        raise GitError("commit message is empty", "", -1)
    for label, value in (
        ("author name", author_name),
        ("author email", author_email),
        ("committer name", committer_name),
        ("committer email", committer_email),
    ):
        if not value.strip() or any(c in value for c in "<>\n"):
            raise GitError(f"invalid {label}: {value!r}", "", -1)
    trailer_args: list[str] = []
    for key, value in (trailers or {}).items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", key) or "\n" in value or not value.strip():
            raise GitError(f"invalid trailer {key!r}: {value!r}", "", -1)
        trailer_args += ["--trailer", f"{key}: {value.strip()}"]
    run(["add", "-A"], wt, what="git add")
    staged = run(["diff", "--cached", "--quiet", "--ignore-submodules=none"], wt, ok=(0, 1))
    if staged.returncode == 0:
        return None
    env = {
        "GIT_AUTHOR_NAME": author_name.strip(),
        "GIT_AUTHOR_EMAIL": author_email.strip(),
        "GIT_COMMITTER_NAME": committer_name.strip(),
        "GIT_COMMITTER_EMAIL": committer_email.strip(),
    }
    run(
        ["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "--cleanup=whitespace", "-F", "-"]
        + trailer_args,
        wt,
        what="git commit",
        env=env,
        input=message,
    )
    return head_sha(wt)


# --------------------------------------------------------------------------- reads


def commits_ahead(repo_or_worktree: Path | str, base: str, head: str) -> int:
    """Number of commits in `head` not in `base` (`git rev-list --count base..head`)."""
    _check_rev(base, "base")
    _check_rev(head, "revision")
    out = output(["rev-list", "--count", head, "--not", base], _resolve(repo_or_worktree))
    return int(out or "0")


def head_sha(path: Path | str, ref: str = "HEAD") -> str:
    """Full sha of the commit `ref` names (errors clearly when it does not exist)."""
    _check_rev(ref)
    p = _resolve(path)
    r = run(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], p, ok=(0, 1, 128))
    if r.returncode != 0:
        raise GitError(f"unknown revision {ref} in {p}", r.stderr, r.returncode)
    return r.stdout.strip()


def branch_exists(repo: Path | str, branch: str) -> bool:
    """Whether local branch `refs/heads/<branch>` exists."""
    _check_rev(branch, "branch name")
    r = run(["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], _resolve(repo), ok=(0, 1))
    return r.returncode == 0


def delete_branch(repo: Path | str, branch: str, force: bool = False) -> bool:
    """Delete local branch `branch`; False if it did not exist.

    Refuses (UnsafeWorktreeError) when the branch holds commits no origin branch has —
    deleting it would lose them just like deleting a dirty worktree. After a regular merge
    and a fetch they are on origin; after a rebase/squash landing they are not (copies
    landed), so the refinery passes force=True there. git itself refuses to delete a
    branch checked out in a worktree.
    """
    p = _resolve(repo)
    if not branch_exists(p, branch):
        return False
    if not force:
        n = int(
            output(["rev-list", "--count", f"refs/heads/{branch}", "--not", "--remotes=origin"], p)
            or "0"
        )
        if n:
            raise UnsafeWorktreeError(
                f"refusing to delete branch {branch}: {n} commit(s) exist on no origin branch; "
                "merge it first or delete with --force",
                "",
                -1,
            )
    run(["branch", "-D", "--", branch], p, what="git branch -D")
    return True


_LOG_FIELDS = ("sha", "author_name", "author_email", "author_date", "committer_name",
               "committer_email", "committer_date", "subject", "trailers")
_LOG_FORMAT = "%x1f".join(
    ["%H", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s", "%(trailers:only,unfold)"]
) + "%x1e"


def log(repo: Path | str, ref: str = "HEAD", n: int = 20) -> list[dict[str, Any]]:
    """The last `n` commits of `ref` (a range like `origin/main..gt/a/b` works too).

    Each: sha, author / committer ("Name <email>") with their *_name/*_email/*_date parts,
    subject, and trailers as a dict (a repeated key's values joined with ", ").
    """
    _check_rev(ref)
    out = run(
        ["log", f"--max-count={int(n)}", f"--format={_LOG_FORMAT}", ref, "--"],
        _resolve(repo),
        what="git log",
    ).stdout
    result: list[dict[str, Any]] = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        parts = record.split("\x1f")
        if len(parts) != len(_LOG_FIELDS):
            continue
        entry: dict[str, Any] = dict(zip(_LOG_FIELDS, parts))
        trailers: dict[str, str] = {}
        for ln in entry["trailers"].splitlines():
            key, sep, value = ln.partition(":")
            if sep and key.strip():
                k, v = key.strip(), value.strip()
                trailers[k] = f"{trailers[k]}, {v}" if k in trailers else v
        entry["trailers"] = trailers
        entry["author"] = f"{entry['author_name']} <{entry['author_email']}>"
        entry["committer"] = f"{entry['committer_name']} <{entry['committer_email']}>"
        result.append(entry)
    return result


def diff(repo: Path | str, base: str, head: str) -> str:
    """The change `head` makes relative to where it forked from `base` (`base...head`).

    Three dots, i.e. against the merge base: what a reviewer should see, unaffected by
    whatever landed on `base` since the branch was cut. No colour, no external diff
    drivers or textconv (user config must not change what the daemon stores).
    """
    _check_rev(base, "base")
    _check_rev(head, "revision")
    return run(
        ["diff", "--no-color", "--no-ext-diff", "--no-textconv", f"{base}...{head}", "--"],
        _resolve(repo),
        what="git diff",
    ).stdout


def switch_worktree(path: Path | str, branch: str, base: str) -> None:
    """Move a polecat's (clean) worktree to `branch`, creating it from `base` if new.

    Refuses a dirty worktree: switching would carry or clash with uncommitted work.
    """
    path_p = _resolve(path)
    check_branch_name(branch)
    dirty = dirty_files(path_p)
    if dirty:
        raise UnsafeWorktreeError(
            f"worktree {path_p} holds {len(dirty)} uncommitted file(s) ({', '.join(dirty[:3])}); not switching",
            "", -1)
    if branch_exists(path_p, branch):
        run(["switch", "--", branch], path_p, what="git switch")
    else:
        _check_rev(base, "base")
        run(["switch", "--no-track", "-c", branch, base], path_p, what="git switch")


TRAILER_HOOK = """#!/bin/sh
# Installed by gastown: agent commits carry the bead and the human who asked for it.
[ -n "$GT_BEAD_ID" ] || exit 0
git interpret-trailers --in-place --if-exists addIfDifferent --trailer "Bead-ID: $GT_BEAD_ID" "$1"
if [ -n "$GT_REQUESTED_BY" ]; then
  git interpret-trailers --in-place --if-exists addIfDifferent --trailer "Requested-by: $GT_REQUESTED_BY" "$1"
fi
if [ -n "$GT_CO_AUTHOR" ]; then
  git interpret-trailers --in-place --if-exists addIfDifferent --trailer "Co-authored-by: $GT_CO_AUTHOR" "$1"
fi
exit 0
"""


def install_trailer_hook(repo: Path | str) -> None:
    """A commit-msg hook in the rig clone (shared by its worktrees) adding the trailers,
    so commits made by any agent CLI's own `git commit` carry them."""
    hooks = Path(output(["rev-parse", "--git-common-dir"], _resolve(repo)))
    if not hooks.is_absolute():
        hooks = _resolve(repo) / hooks
    hook = hooks / "hooks" / "commit-msg"
    if hook.exists() and hook.read_text() == TRAILER_HOOK:
        return
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(TRAILER_HOOK)
    hook.chmod(0o700)
