"""Fault injection for the crash-point tests: `GT_CRASH_AT=<name>` in the daemon's
environment makes it exit hard (`os._exit`, like a SIGKILL: no cleanup, no flush of
anything but the log line) the first time execution reaches the point of that name.

Only the daemon reads it, once at import; an unset variable costs one comparison. The
points are where intent and effect part: every one of them must be recoverable by a
restarted daemon without losing or duplicating work (tests/test_crash_points.py).
"""

from __future__ import annotations

import logging
import os

POINTS = (
    "dispatch.hooked",        # the bead is hooked on the agent (committed), nothing started
    "dispatch.recording",     # the worktree and token are ready, the turn is not recorded
    "dispatch.recorded",      # the turn is recorded, its runner not spawned
    "dispatch.spawned",       # the runner runs, the daemon has not marked the agent working
    "done.before_commit",     # `gt done` checked the branch, the merge request is not written
    "done.committed",         # the merge request is written, the agent has no answer yet
    "merge.before_push",      # the refinery merged and passed the gates, nothing pushed
    "merge.pushed",           # the target branch moved, the store does not know yet
    "convoy.before_land",     # a convoy's last member merged, the convoy is not landed
    "convoy.landed",          # the convoy is landed in the store
)

CRASH_AT = os.environ.get("GT_CRASH_AT") or None
EXIT_CODE = 70


def crash_point(name: str) -> None:
    """Exit at once if this is the configured crash point."""
    if CRASH_AT is not None and CRASH_AT == name:
        logging.getLogger("gastown.daemon").warning("GT_CRASH_AT=%s: exiting hard here", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_CODE)
