"""`gt daemon install|uninstall`: the daemon as a systemd user service, so the town keeps
working after logout and comes back after a reboot (with `loginctl enable-linger`).

The unit runs `python -m gastown.daemon` of this very install in the foreground with the
current GT_HOME; `Restart=on-failure` brings it back after a crash. systemctl is run as
the user (`--user`); when it is missing or fails, the unit file is still written (or
removed) and the one command that finishes the job is printed, with a non-zero exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from gastown import paths
from gastown.cli.common import err, fail, out
from gastown.protocol import ErrorCode

UNIT = "gastown.service"


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT


def unit_text() -> str:
    env = [f"Environment=GT_HOME={paths.home()}"]
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return "\n".join([
        "[Unit]",
        "Description=Gastown daemon (AI coding agents on your git repositories)",
        "After=default.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={sys.executable} -m gastown.daemon",
        *env,
        f"Environment=PATH={path}",
        "Restart=on-failure",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def _systemctl(*args: str) -> tuple[bool, str]:
    binary = shutil.which("systemctl")
    if binary is None:
        return False, "systemctl is not installed here"
    try:
        res = subprocess.run([binary, "--user", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    said = (res.stderr or res.stdout).strip().splitlines()
    return res.returncode == 0, said[-1] if said else f"exit status {res.returncode}"


def install() -> None:
    """Install and start the daemon as a systemd user service (survives logout and reboot).

    Example: gt daemon install && loginctl enable-linger "$USER"
    """
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit_text())
    out.print(f"wrote {path}", markup=False)
    for step in (("daemon-reload",), ("enable", "--now", UNIT)):
        ok, why = _systemctl(*step)
        if not ok:
            fail(f"systemctl --user {' '.join(step)} failed ({why}); the unit is written: run "
                 f"'systemctl --user daemon-reload && systemctl --user enable --now {UNIT}' where systemd runs",
                 ErrorCode.EXTERNAL)
    out.print(f"enabled {UNIT}: the daemon starts with your session "
              "(run 'loginctl enable-linger' to keep it running after logout)", markup=False)


def uninstall() -> None:
    """Stop and remove the daemon's systemd user service (gt starts it on demand again).

    Example: gt daemon uninstall
    """
    path = unit_path()
    problems = []
    if shutil.which("systemctl"):
        ok, why = _systemctl("disable", "--now", UNIT)
        if not ok and path.exists():
            problems.append(f"systemctl --user disable --now {UNIT} failed ({why})")
    if path.exists():
        path.unlink()
        out.print(f"removed {path}", markup=False)
    else:
        err.print(f"no unit at {path}: nothing to remove", markup=False)
    if shutil.which("systemctl"):
        _systemctl("daemon-reload")
    if problems:
        fail("; ".join(problems), ErrorCode.EXTERNAL)


def register(app: typer.Typer) -> None:
    app.command("install")(install)
    app.command("uninstall")(uninstall)
