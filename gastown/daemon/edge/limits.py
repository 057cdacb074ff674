"""Connection limits of the daemon's sockets: a client that never speaks, or a thousand of
them, must not lock everybody else out or flood the log.

- A new connection has HELLO_TIMEOUT seconds to send its first frame (normally
  `system.hello`); a connection that is not subscribed to events is closed after
  IDLE_TIMEOUT seconds without a frame (clients reconnect transparently).
- At most MAX_CONNECTIONS at once per socket; the next one is refused with UNAVAILABLE.
- The soft file-descriptor limit is raised to the hard limit at start, and accept errors
  (EMFILE and friends) are logged at most once a second, without a traceback.

Each can be tuned by an environment variable of the daemon (tests shorten the timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from typing import Any

log = logging.getLogger("gastown.daemon")

HELLO_TIMEOUT = float(os.environ.get("GT_HELLO_TIMEOUT", "10"))
IDLE_TIMEOUT = float(os.environ.get("GT_IDLE_TIMEOUT", "300"))
MAX_CONNECTIONS = int(os.environ.get("GT_MAX_CONNECTIONS", "1000"))
FD_TARGET = 65536
WORKER_THREADS = int(os.environ.get("GT_WORKER_THREADS", "64"))
"""Threads for blocking work (git, spawning runners): mostly waiting, not computing."""


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FD_TARGET if hard == resource.RLIM_INFINITY else min(hard, FD_TARGET)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    return int(soft)


def connection_cap(fd_soft: int) -> int:
    """Connections allowed at once: MAX_CONNECTIONS, but leave half the descriptors for
    the store, git, turns and logs."""
    return max(16, min(MAX_CONNECTIONS, fd_soft // 2))


class AcceptErrorFilter:
    """A loop exception handler: accept failures (out of descriptors) are logged at most
    once a second with a count, never with a traceback; everything else goes on to the
    default handler."""

    def __init__(self) -> None:
        self.last = 0.0
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if "accept" in message or (isinstance(exc, OSError) and exc.errno in _FD_ERRNOS):
            now = time.monotonic()
            if now - self.last < 1.0:
                self.suppressed += 1
                return
            more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
            log.warning("accepting a connection failed: %s: %s%s", message, exc, more)
            self.last, self.suppressed = now, 0
            return
        loop.default_exception_handler(context)


_FD_ERRNOS = {24, 23, 105, 12}  # EMFILE, ENFILE, ENOBUFS, ENOMEM
