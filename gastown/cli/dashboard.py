"""`gt tui` without Typer: the console script's fast path runs it straight away (importing
typer and rich costs ~40 ms of the dashboard's start, measured by bench/bench_tui_start.py),
and the Typer command calls the same function. Anything the parser here does not know
(`--help`, a typo) returns None and goes to Typer, which answers it as before.
"""

from __future__ import annotations

import sys

from gastown.client import Client
from gastown.protocol import ErrorCode, RpcError, exit_code

SCREENS = ("overview", "board", "mq")


def open_dashboard(town: str | None, screen: str) -> int:
    """Connect (starting the daemon if needed, like every other command), then run the app
    until it quits. The exit code; errors as one `gt: ...` line on stderr."""
    if screen not in SCREENS:
        return _fail(f"--screen must be one of {', '.join(SCREENS)}, not '{screen}'", ErrorCode.INVALID_PARAMS)
    try:
        client = Client(town=town)
        info = client.call("town.show")
    except RpcError as exc:
        return _fail(exc.message, exc.code)
    except OSError as exc:
        return _fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
    name = info["name"]

    def connect(timeout: float | None) -> Client:
        return Client(town=name, autostart=False, timeout=timeout)

    client.town = name  # pin the town the dashboard shows, even if more are created later
    from gastown.tui.app import make_app

    make_app(client, connect=connect, start=screen).run()
    return 0


def fast_tui(args: list[str]) -> int | None:
    """`gt tui [--town T] [--screen S]` (also `--name=V`); None: not for the fast path."""
    opts: dict[str, str | None] = {"--town": None, "--screen": "overview"}  # the client reads GT_TOWN
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name not in opts:
            return None
        if not eq:
            nxt = next(it, None)
            if nxt is None:
                return None
            value = nxt
        opts[name] = value
    return open_dashboard(opts["--town"], str(opts["--screen"]))


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"gt: {message}\n")
    return exit_code(code)
