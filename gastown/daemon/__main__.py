"""`python -m gastown.daemon`: run the daemon in the foreground (gt starts it detached)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from gastown import paths
from gastown.protocol import RpcError, exit_code


def setup_logging() -> None:
    log_file = paths.log_path()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=str(log_file),
        level=os.environ.get("GT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> int:
    os.umask(0o077)  # before anything is written: every file the daemon creates is private
    setup_logging()
    from gastown.daemon.town.private import secure_home

    secure_home()
    import faulthandler
    import signal

    # `kill -USR1 <daemon pid>` writes every thread's stack to the log: for diagnosing hangs
    faulthandler.register(signal.SIGUSR1, file=open(paths.log_path(), "a"), all_threads=True)
    from gastown.daemon.edge.server import Daemon, acquire_lock

    try:
        lock_fd = acquire_lock()
    except RpcError as exc:
        print(f"gt daemon: {exc.message}", file=sys.stderr)
        return exit_code(exc.code)
    try:
        asyncio.run(Daemon().run())
    finally:
        try:
            paths.pid_path().unlink()
        except FileNotFoundError:
            pass
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
