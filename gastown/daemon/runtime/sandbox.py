"""The `local` runtime's sandbox: every agent turn and every gate runs under bubblewrap.

Threat: a prompt-injected or misbehaving agent running as the user. Inside the sandbox it
sees the system directories, the Python and gastown install and the agent CLIs read-only;
it may write only its worktree, its agent home and the parts of the rig clone a commit needs
(objects, refs, logs, its own worktree metadata) -- the clone's `config` and `hooks/` stay
read-only, so it cannot plant a hook or a `core.fsmonitor` the daemon would run. Nothing
else of `GT_HOME` exists in there: no other worktree, no turn directory (tokens, attach
sockets, prompts, logs), no `town.db`, no human socket, no other town; /tmp is private; the
only socket is the town's agent socket (its own directory). Pids and IPC are unshared, so
other processes (and their /proc/<pid>/environ) are invisible; every capability is dropped
and no-new-privileges is set. The network is shared: agents need their model endpoint.

`sandbox = auto | required | off` (town setting): auto uses bwrap when it works here and
otherwise says why (`gt town create`, `gt town show`, `gt doctor`); required refuses to start
a turn without it; off is explicit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import gastown
from gastown import paths
from gastown.protocol import ErrorCode, RpcError

SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
               "/run/systemd/resolve", "/var/lib/ca-certificates")
_probe_lock = threading.Lock()
_probe: "Probe | None" = None


@dataclass(frozen=True)
class Probe:
    ok: bool
    reason: str
    binary: str | None = None


def probe(fresh: bool = False) -> Probe:
    """Can bwrap build our sandbox on this host? Cached per process (a host does not change
    its kernel under a running daemon); `fresh` re-checks (gt doctor)."""
    global _probe
    with _probe_lock:
        if _probe is None or fresh:
            _probe = _run_probe()
        return _probe


def _run_probe() -> Probe:
    # GT_BWRAP: an explicit bwrap binary (unusual installs; tests point it at nothing)
    wanted = os.environ.get("GT_BWRAP")
    binary = shutil.which(wanted or "bwrap")
    if binary is None:
        return Probe(False, "bwrap is not installed (apt-get install bubblewrap, or scripts/install-system-deps.sh)")
    true = shutil.which("true") or "/bin/true"
    try:
        proc = subprocess.run([binary, *_base_args(), "--", true], capture_output=True, text=True, timeout=15,
                              stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, f"bwrap cannot run: {exc}", binary)
    if proc.returncode != 0:
        line = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return Probe(False, f"bwrap cannot create a sandbox here ({line}); user namespaces may be disabled", binary)
    return Probe(True, f"bubblewrap works here ({binary})", binary)


def state(mode: str, runtime: str = "local") -> dict[str, Any]:
    """What `gt town show` / `gt doctor` say: the mode, whether turns are sandboxed, and why."""
    if runtime != "local":
        from gastown.daemon.runtime import agentuids

        if agentuids.available():
            return {"mode": mode, "active": True,
                    "reason": f"agents run in the {runtime} town container, each as a uid of its own"}
        if mode == "required":
            return {"mode": mode, "active": False,
                    "reason": f"turns refuse to start: agents of the {runtime} town container would share one uid "
                              "(the daemon is not root, so it cannot give each agent its own)"}
        return {"mode": mode, "active": True,
                "reason": f"agents run in the {runtime} town container, all as one uid (the daemon is not root, so "
                          "it cannot give each agent its own): they can reach each other's files and processes"}
    if mode == "off":
        return {"mode": mode, "active": False, "reason": "sandbox = off: agents run unconfined as your user"}
    found = probe()
    if found.ok:
        return {"mode": mode, "active": True, "reason": found.reason}
    if mode == "required":
        return {"mode": mode, "active": False, "reason": f"turns refuse to start: {found.reason}"}
    return {"mode": mode, "active": False, "reason": f"agents run unconfined: {found.reason}"}


def enabled(mode: str) -> bool:
    """Whether to sandbox this turn; RpcError(EXTERNAL) naming the cause when `required`
    and bwrap does not work."""
    if mode == "off":
        return False
    found = probe()
    if found.ok:
        return True
    if mode == "required":
        raise RpcError(ErrorCode.EXTERNAL, f"sandbox required but unavailable: {found.reason}")
    return False


# ----------------------------------------------------------------------------- argv building
def _base_args() -> list[str]:
    """Namespaces and system directories every sandbox gets."""
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
    if os.geteuid() == 0:  # root (e.g. in CI): bwrap keeps capabilities unless told
        args += ["--cap-drop", "ALL"]
    for d in SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), d]
        elif p.is_dir():
            args += ["--ro-bind", d, d]
    return args


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def software_dirs(extra: Iterable[str] = ()) -> list[Path]:
    """Read-only installs the agent needs: the interpreter, the venv, the gastown package, the
    agent CLI cache and any CLI binary's install root (outside the system dirs)."""
    from gastown.daemon.runtime.container import agent_cache

    cands = [Path(sys.base_prefix), Path(sys.prefix), Path(gastown.__file__).resolve().parent.parent,
             agent_cache()]
    for binary in extra:
        real = Path(binary).resolve()
        parts = real.parts
        if "node_modules" in parts:  # the package root holding node_modules
            cands.append(Path(*parts[:parts.index("node_modules")]))
        else:
            cands.append(real.parent.parent)
    system = [Path(d) for d in SYSTEM_DIRS]
    out: list[Path] = []
    for c in cands:
        try:
            c = c.resolve()
        except OSError:
            continue
        if c.is_dir() and c != Path("/") and not _within(c, system) and c not in out:
            out.append(c)
    return out


def _hidden() -> list[Path]:
    return [paths.home().resolve(), paths.runtime_dir().resolve()]


def _hide_state(args: list[str]) -> None:
    """GT_HOME and the runtime dir are an empty tmpfs in there (wherever they sit: in a bound
    dir, in /tmp...); only the binds made into them later show through."""
    for hidden in _hidden():
        args += ["--tmpfs", str(hidden)]


def _seal(args: list[str]) -> None:
    """After the binds: the sandbox's root and the GT_HOME skeleton become read-only, so
    nothing can be written there either (the binds keep their own modes)."""
    args += ["--remount-ro", "/"]
    for hidden in _hidden():
        args += ["--remount-ro", str(hidden)]


def _git_binds(worktree: Path, writable: bool) -> list[str]:
    """A worktree's git metadata: the clone read-only, then (for commits) its objects, refs and
    logs and this worktree's own admin dir writable; `config` and `hooks/` stay read-only."""
    dotgit = worktree / ".git"
    if not dotgit.is_file():
        return []
    text = dotgit.read_text().strip()
    if not text.startswith("gitdir:"):
        return []
    gitdir = Path(text.split(":", 1)[1].strip())
    if not gitdir.is_absolute():
        gitdir = (worktree / gitdir).resolve()
    common = gitdir
    commondir = gitdir / "commondir"
    if commondir.is_file():
        rel = commondir.read_text().strip()
        common = (gitdir / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    args = ["--ro-bind", str(common), str(common)]
    if writable:
        for sub in ("objects", "refs", "logs"):
            (common / sub).mkdir(exist_ok=True)
            args += ["--bind", str(common / sub), str(common / sub)]
        args += _ref_fences(common, gitdir)
    args += ["--bind" if writable or gitdir != common else "--ro-bind", str(gitdir), str(gitdir)]
    return args


def _ref_fences(common: Path, gitdir: Path) -> list[str]:
    """Inside the writable `refs/` and `logs/`: every polecat's branches (`gt/`) read-only
    except this worktree's own (`gt/<agent>/`, the agent named by the worktree's admin
    directory), and `origin/*` and tags read-only, so an agent can neither move another's
    branch nor forge the base of a merge. New branches and `refs/stash` stay possible."""
    args: list[str] = []
    for base in (common / "refs", common / "logs" / "refs"):
        for sub in ("heads/gt", f"heads/gt/{gitdir.name}", "remotes", "tags"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        args += ["--ro-bind", str(base / "heads" / "gt"), str(base / "heads" / "gt"),
                 "--bind", str(base / "heads" / "gt" / gitdir.name), str(base / "heads" / "gt" / gitdir.name)]
        for sub in ("remotes", "tags"):
            args += ["--ro-bind", str(base / sub), str(base / sub)]
    return args


def turn_argv(argv: list[str], *, worktree: Path, home: Path, socket_dir: Path,
              cli_binaries: Iterable[str] = ()) -> list[str]:
    """`bwrap ... -- argv` for one agent turn."""
    found = probe()
    assert found.binary is not None
    ro = software_dirs(cli_binaries)
    args = [found.binary, *_base_args()]
    for d in ro:
        args += ["--ro-bind", str(d), str(d)]
    _hide_state(args)
    args += ["--bind", str(home), str(home), "--bind", str(worktree), str(worktree)]
    args += _git_binds(worktree, writable=True)
    args += ["--bind", str(socket_dir), str(socket_dir)]
    _seal(args)
    return [*args, "--chdir", str(worktree), "--", *argv]


def gate_argv(cmd: str, *, cwd: Path, home: Path | None = None) -> list[str]:
    """`bwrap ... -- sh -c cmd` for a gate: the merge worktree writable (tests write caches),
    the clone read-only except this worktree's metadata, no socket, nothing of GT_HOME."""
    found = probe()
    assert found.binary is not None
    ro = software_dirs()
    args = [found.binary, *_base_args()]
    for d in ro:
        args += ["--ro-bind", str(d), str(d)]
    _hide_state(args)
    if home is not None:
        args += ["--bind", str(home), str(home)]
    args += ["--bind", str(cwd), str(cwd), *_git_binds(cwd, writable=False)]
    _seal(args)
    args += ["--chdir", str(cwd)]
    return [*args, "--", "/bin/sh", "-c", cmd]


def wrap_turn(town: Any, runtime: str, adapter: Any, argv: list[str], worktree: Path, home: Path,
              socket_dir: Path) -> list[str]:
    """The turn's argv, under bwrap when the town's `sandbox` mode asks and the runtime is local
    (a container town is its own sandbox). RpcError(EXTERNAL) when required but unavailable."""
    if runtime != "local" or not enabled(town.text("sandbox")):
        return argv
    socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    binaries = [adapter.resolve_binary()] if adapter.binary else []
    return turn_argv(argv, worktree=worktree, home=home, socket_dir=socket_dir, cli_binaries=binaries)
