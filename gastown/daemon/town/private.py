"""Private files: everything the daemon writes under GT_HOME is its user's alone.

The daemon runs with umask 077, so new files are 0600 and directories 0700 (git objects
0400). Homes created by older versions (0755 directories, 0644 `town.db`, prompts, logs)
are tightened once at start: every group/other bit below GT_HOME and the runtime dir is
cleared. Symlinks are left alone (their modes mean nothing and they may point outside).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from gastown import paths

log = logging.getLogger("gastown.daemon.town.private")
UMASK = 0o077
STAMP = ".private-v1"  # the whole tree was tightened once


def tighten(root: Path) -> int:
    """Clear group/other permission bits on `root` and everything below it (no symlinks
    followed). Returns how many entries were changed."""
    changed = 0
    if not root.exists():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            try:
                st = os.lstat(name)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
                continue
            try:
                os.chmod(name, stat.S_IMODE(st.st_mode) & ~0o077)
                changed += 1
            except OSError as exc:  # e.g. a file owned by another uid (container leftovers)
                log.warning("cannot tighten %s: %s", name, exc)
    return changed


def secure_home() -> None:
    """Set the daemon's umask and tighten GT_HOME and the runtime dir: the whole tree once
    (a stamp file records it), then at every start the directories that gate everything below
    them (GT_HOME, towns/, each town, the runtime dir), which is cheap with big worktrees."""
    os.umask(UMASK)
    home, run = paths.home(), paths.runtime_dir()
    for root in (home, run):
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = home / STAMP
    if not stamp.exists():
        n = tighten(home) + tighten(run)
        stamp.touch(mode=0o600)
        if n:
            log.info("tightened %d entries under %s to owner-only", n, home)
        return
    towns = paths.towns_dir()
    for d in [home, run, towns, *(towns.iterdir() if towns.is_dir() else ())]:
        if d.is_dir() and not d.is_symlink() and os.lstat(d).st_mode & 0o077:
            os.chmod(d, stat.S_IMODE(os.lstat(d).st_mode) & ~0o077)
