"""One lock per rig clone for the git operations on its shared metadata.

Git keeps worktree registrations (`.git/worktrees/*`), refs and `packed-refs` in the clone
all worktrees share. Two `git worktree add`s, a prune or a `fetch --prune` racing each
other fail with "failed to read worktrees/x/commondir" or "could not open
'worktrees/y/locked'" (`worktree add` reads every other worktree's metadata to refuse a
branch checked out twice). So:
- under the lock (`rig_git`): fetch, worktree add/prune/remove, branch moves and deletion,
  sweeps; kept to one git process each (`worktree add --no-checkout`: the checkout itself
  is local to the new worktree and runs outside the lock), and a new polecat branch's
  worktree is registered without one (gastown.daemon.vcs.worktreemeta: microseconds);
- no lock: everything local to one worktree (an agent's commits, a new worktree's
  checkout, a merge and its gates in the refinery's temp worktree), reading an idle
  polecat's worktree state, and creating a new branch with a create-only `update-ref`
  (git's own ref lock makes that atomic). Different rigs never wait for each other.
Fetches and prunes are coalesced: a caller that waited while another one ran after it
asked uses that result. The lock is per process (threads): one daemon owns a town's clones.

A temporary worktree in use outside the lock (a merge and its gates, a run step) holds a
lease on its path from before it is added until after it is removed (`leased`): sweeps,
which run under the lock, skip leased paths, so they only ever remove what a crashed or
finished merge left, never the tree a running one works in.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_done: dict[tuple[str, str], float] = {}
_leases: dict[str, int] = {}


def _lock_for(repo: str | os.PathLike[str]) -> threading.RLock:
    key = os.path.realpath(repo)
    with _guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


@contextmanager
def rig_git(repo: str | os.PathLike[str]) -> Iterator[None]:
    """Exclusive: a git command that rewrites the clone's shared metadata (re-entrant)."""
    with _lock_for(repo):
        yield


def held(repo: str | os.PathLike[str]) -> bool:
    """Whether this thread holds the clone's lock (for assertions and tests)."""
    return bool(_lock_for(repo)._is_owned())  # type: ignore[attr-defined]


@contextmanager
def lease(path: str | os.PathLike[str]) -> Iterator[None]:
    """Mark a worktree path as in use by this process while the block runs; sweeps skip it.
    Take it before the worktree is added and leave the block only after it is removed."""
    key = os.path.realpath(path)
    with _guard:
        _leases[key] = _leases.get(key, 0) + 1
    try:
        yield
    finally:
        with _guard:
            left = _leases.pop(key) - 1
            if left:
                _leases[key] = left


def leased(path: str | os.PathLike[str]) -> bool:
    """Whether a running merge or step of this process uses the worktree at `path`."""
    with _guard:
        return os.path.realpath(path) in _leases


FRESH_S = 0.0
"""How long before a caller asked a fetch or prune may have begun and still count for it.
Zero: only one that began after the caller asked has seen everything the caller wants (a
commit pushed to origin a moment before a sling must be in the new worktree's base); a
burst of dispatches still shares one, since they all asked before it began."""


def coalesced(repo: str | os.PathLike[str], what: str, fn: Callable[[], None], fresh_s: float = FRESH_S) -> bool:
    """Run `fn` (a fetch, a prune) under the clone's lock unless one of the same kind began
    at most `fresh_s` before this call (or after it) and has finished: 200 dispatches at
    once make a handful of fetches, not 200. True if this call ran it."""
    asked = time.monotonic()
    key = (os.path.realpath(repo), what)
    if _done.get(key, -1e9) >= asked - fresh_s:
        return False
    with rig_git(repo):
        if _done.get(key, -1e9) >= asked - fresh_s:
            return False
        began = time.monotonic()
        fn()
        _done[key] = began
    return True


def fetch_coalesced(repo: str | os.PathLike[str], fetch: Callable[[], None]) -> bool:
    return coalesced(repo, "fetch", fetch)
