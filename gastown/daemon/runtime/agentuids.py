"""One uid per agent inside a town container, so agents of one town cannot read each other's
environment (`/proc/<pid>/environ`: its token), turn directory (prompt, logs, attach socket)
or worktree, nor signal each other's processes.

Without it every process of the container is the same user: the kernel lets it read any
other's environ, and the town directory is one owner's. With it:

- each agent gets a uid of its own (`BASE + n`, n recorded in the town's `agent-uids.json`
  the first time the agent runs, never reused), all of them in one group `BASE` (the town's
  agents); gates and run steps get one more uid of their own (`GATES`);
- before each turn the daemon (root on the host: rootful podman or docker, no user
  namespace, so container uids are host uids) hands the agent its own directories, owner-only
  (0700): its turn directories, its home (with a private TMPDIR), its worktree and the
  worktree's admin directory in the rig clone;
- the directories above them only let the group *pass* (0710): an agent can reach its own
  paths, list nothing, open nothing of another agent;
- the rig clone is shared the way git shares a repository between users: group-readable
  (`core.sharedRepository=0640` keeps what the daemon writes there readable), objects and
  local branches group-writable (commits need them; object directories are sticky: nobody
  deletes another's objects), `refs/remotes`, `refs/tags`, `packed-refs` and the clone's
  top directory writable by the daemon only (an agent cannot forge `origin/<target>`);
- the agent socket and its directory are group-accessible (0660/0710).

Only a daemon running as root can hand files to other uids; otherwise (rootless podman,
docker used by a non-root user) agents of a container town share one uid and `gt town show`
says so (docs/security.md).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

BASE = 2_100_000_000  # far above any login or subordinate uid range: these uids own nothing else
GATES = ":gates"  # the name gates and run steps run under (no agent name starts with ':')
MAP = "agent-uids.json"
SHARED_MODE = "0640"  # core.sharedRepository of a rig clone: new files group-readable
_lock = threading.Lock()


def available() -> bool:
    """Per-agent uids need a root daemon (to chown) and an engine without a user namespace."""
    return os.geteuid() == 0


def gid() -> int:
    return BASE


def uid_for(town_root: Path, name: str) -> int:
    """The agent's uid, allocated (and recorded before first use) when it has none yet."""
    path = Path(town_root) / MAP
    with _lock:
        try:
            table: dict[str, int] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            table = {}
        if name not in table:
            table[name] = max(table.values(), default=0) + 1
            tmp = path.with_name(f".{MAP}.tmp")
            tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        return BASE + table[name]


def in_use(town_root: Path) -> bool:
    return (Path(town_root) / MAP).is_file()


# ------------------------------------------------------------------ handing paths over
def own(path: Path, uid: int) -> None:
    """`path` and everything below it become the uid's (group: the town's agents), the top
    owner-only. Only entries that differ are touched (a worktree is walked once per turn)."""
    path.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            try:
                st = os.lstat(name)
                if st.st_uid != uid or st.st_gid != BASE:
                    os.lchown(name, uid, BASE)
            except FileNotFoundError:
                continue
    os.chmod(path, 0o700)


def passable(path: Path, top: Path) -> None:
    """Every directory from `top` down to `path`'s parent lets the agents' group through
    (x only: nothing can be listed or read there that is not group-readable anyway)."""
    top, cur = Path(top), Path(path).parent
    chain = []
    while cur != top and top in cur.parents:
        chain.append(cur)
        cur = cur.parent
    for d in [top, *reversed(chain)]:
        st = os.lstat(d)
        if st.st_gid != BASE:
            os.lchown(d, -1, BASE)
        if not st.st_mode & 0o010:
            os.chmod(d, stat.S_IMODE(st.st_mode) | 0o010)


def share_socket(socket_path: Path) -> None:
    """The agent socket of a town whose agents have uids of their own: group rw, its
    directory group-passable (the directory holds nothing else)."""
    os.lchown(socket_path.parent, -1, BASE)
    os.chmod(socket_path.parent, 0o710)
    os.lchown(socket_path, -1, BASE)
    os.chmod(socket_path, 0o660)


# ------------------------------------------------------------------ the rig clone
def clone_of(worktree: Path) -> tuple[Path, Path] | None:
    """(rig clone, the worktree's admin directory in it) from the worktree's `.git` file."""
    try:
        text = (Path(worktree) / ".git").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    admin = Path(text.split(":", 1)[1].strip())
    if admin.parent.name != "worktrees":
        return None
    return admin.parent.parent, admin


def _branch_part(rel: tuple[str, ...]) -> tuple[str, ...] | None:
    """The part below `refs/heads` (or its reflogs, `logs/refs/heads`); None elsewhere."""
    if rel[:2] == ("refs", "heads"):
        return rel[2:]
    if rel[:3] == ("logs", "refs", "heads"):
        return rel[3:]
    return None


def _clone_mode(rel: tuple[str, ...], is_dir: bool, mode: int) -> int:
    """The mode an entry of the rig clone gets (relative path parts; () is the clone itself).

    Branches: `gt/<agent>/` is that agent's directory (prepare_turn hands it over; 2750:
    nobody else moves its branches); every other branch directory is group-writable and
    sticky, so an agent may create a branch there but never move, rename or delete one it
    does not own (a PR follow-up's branch is handed to the agent working on it)."""
    top = rel[0] if rel else ""
    branch = _branch_part(rel)
    if is_dir:
        if top == "objects":
            return 0o3770  # agents add objects; sticky: none removes another's
        if branch is not None:
            return 0o2750 if branch[:1] == ("gt",) and len(branch) >= 2 else 0o3770
        if rel in (("refs",), ("logs", "refs")):
            return 0o3770  # new refs of its own (`git stash`: refs/stash); remotes and tags stay the daemon's
        return 0o2750
    group = (mode & 0o500) >> 3  # the owner's read/execute, never write
    if branch is not None and top == "logs" and not (branch[:1] == ("gt",) and len(branch) >= 3):
        group |= 0o020  # a shared branch's reflog is appended to by whoever moves it
    return stat.S_IMODE(mode) & 0o7700 | group


def share_clone(clone: Path) -> int:
    """Make the rig clone shareable by the town's agents (idempotent; returns entries
    changed). Per-agent admin directories (`worktrees/<name>`) are left to their owner."""
    from gastown.daemon.vcs import git

    changed = 0
    try:
        configured = f"sharedRepository = {SHARED_MODE}" in (clone / "config").read_text()
    except OSError:
        configured = False
    if not configured:  # what the daemon writes stays readable (git writes the line this way)
        git.run(["config", "core.sharedRepository", SHARED_MODE], clone)
    for d in ("refs/heads/gt", "logs/refs/heads/gt"):
        (clone / d).mkdir(parents=True, exist_ok=True)
    objects = clone / "objects"
    present = set(os.listdir(objects)) if objects.is_dir() else set()
    for fanout in {f"{n:02x}" for n in range(256)} - present:  # precreated: a fan-out an agent made would be its alone
        (objects / fanout).mkdir(parents=True, exist_ok=True)
    top = str(clone)
    for dirpath, dirnames, filenames in os.walk(clone):
        rel_dir = tuple(dirpath[len(top) + 1:].split(os.sep)) if dirpath != top else ()
        if rel_dir == ("worktrees",):
            dirnames[:] = []  # each agent's own
        for name, is_dir in [(None, True), *((n, True) for n in dirnames), *((n, False) for n in filenames)]:
            path = dirpath if name is None else os.path.join(dirpath, name)
            rel = rel_dir if name is None else (*rel_dir, name)
            if name is not None and is_dir:
                continue  # visited as its own dirpath
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            want = _clone_mode(rel, stat.S_ISDIR(st.st_mode), st.st_mode)
            if st.st_gid != BASE:
                os.lchown(path, -1, BASE)
                changed += 1
            if stat.S_IMODE(st.st_mode) != want:
                os.chmod(path, want)
                changed += 1
    return changed


def prepare_turn(town_root: Path, name: str, *, turn_dir: Path, home: Path | None, cwd: Path) -> int:
    """Everything an agent's turn needs, handed to its uid; returns the uid."""
    town_root = Path(town_root)
    uid = uid_for(town_root, name)
    mine = [turn_dir.parent if turn_dir.parent.name == name else turn_dir]
    if home is not None and town_root in home.parents:
        agent_dir = home.parent if home.parent.name == name else home
        (agent_dir / "tmp").mkdir(parents=True, exist_ok=True)
        mine.append(agent_dir)
    if town_root in cwd.parents:
        mine.append(cwd)
    found = clone_of(cwd)
    if found is not None and town_root in found[0].parents:
        clone, admin = found
        share_clone(clone)
        mine.append(admin)
        passable(clone, town_root)
        _own_branches(clone, admin, name, uid)
    for path in mine:
        own(path, uid)
        passable(path, town_root)
    return uid


def _own_branches(clone: Path, admin: Path, name: str, uid: int) -> None:
    """The agent's branch directory `gt/<name>/` (and its reflogs) is its own; a branch it
    works on elsewhere (a PR follow-up's) gets its loose ref and reflog handed over."""
    for d in (clone / "refs" / "heads" / "gt" / name, clone / "logs" / "refs" / "heads" / "gt" / name):
        d.mkdir(parents=True, exist_ok=True)
        own(d, uid)
        os.chmod(d, 0o2750)
    try:
        head = (admin / "HEAD").read_text().strip()
    except OSError:
        return
    if head.startswith("ref: refs/heads/") and not head.startswith(f"ref: refs/heads/gt/{name}/"):
        ref = head.removeprefix("ref: ")
        for path in (clone / ref, clone / "logs" / ref):
            if path.is_file() and ".." not in ref:
                os.lchown(path, uid, BASE)


def prepare_gate(town_root: Path, cwd: Path) -> tuple[int, Path]:
    """A gate's (or run step's) merge worktree handed to the gates' uid, with a fresh home of
    its own; returns (uid, home)."""
    import shutil

    town_root = Path(town_root)
    uid = uid_for(town_root, GATES)
    homes = town_root / "agents" / ".gates"
    home = homes / cwd.name  # one per merge worktree: merges of two rigs may gate at once
    if homes.is_dir():
        for old in homes.iterdir():  # homes of merges that are gone; nothing one gate leaves reaches the next
            if old == home or not (cwd.parent / old.name).exists():
                shutil.rmtree(old, ignore_errors=True)
    (home / "tmp").mkdir(parents=True)
    found = clone_of(cwd)
    mine = [home, cwd]
    if found is not None and town_root in found[0].parents:
        share_clone(found[0])
        mine.append(found[1])
        passable(found[0], town_root)
    for path in mine:
        own(path, uid)
        passable(path, town_root)
    return uid, home
