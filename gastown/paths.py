"""Where everything lives on disk: one root (`GT_HOME`) and a runtime dir for sockets.

Stdlib only on the agents' tool path: the default root comes from platformdirs, imported
only when `GT_HOME` is unset (agents' turns never need the default).
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names

if TYPE_CHECKING:
    from pathlib import Path

SUN_PATH_MAX = 107  # bytes a Unix socket path may have (sun_path)


def home() -> Path:
    """The state root: `GT_HOME`, else the platform's user data dir for gastown (platformdirs:
    `$XDG_DATA_HOME/gastown` or `~/.local/share/gastown` on Linux). Imported only when
    GT_HOME is unset, so agents' tool calls (which never need it) stay stdlib only."""
    from pathlib import Path  # here, not at the top: an agent's tool call never needs it

    env = os.environ.get("GT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("gastown", appauthor=False))


def runtime_dir() -> Path:
    """The 0700 directory holding the admin socket, the lock and the pid file.

    `GT_RUNTIME_DIR` overrides. By default it is `GT_HOME/run`, unless that path is too
    long for a Unix socket, then a short per-root directory under /tmp.
    """
    from pathlib import Path

    env = os.environ.get("GT_RUNTIME_DIR")
    if env:
        return Path(env)
    candidate = home() / "run"
    if len(str(candidate / "gt.sock").encode()) <= SUN_PATH_MAX - 10:
        return candidate
    import hashlib  # only for a GT_HOME too deep for a socket path

    digest = hashlib.sha256(str(home()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"gt-{os.getuid()}-{digest}"


def socket_path() -> Path:
    return runtime_dir() / "gt.sock"


def lock_path() -> Path:
    return runtime_dir() / "daemon.lock"


def pid_path() -> Path:
    return runtime_dir() / "daemon.pid"


def log_path() -> Path:
    return home() / "logs" / "daemon.log"


def towns_dir() -> Path:
    return home() / "towns"


def town_dir(name: str) -> Path:
    return towns_dir() / name
