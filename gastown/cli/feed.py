"""`gt feed`: what happened in the town, in words, oldest first; `-f` keeps following."""

from __future__ import annotations

import sys
import time
from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, fail
from gastown.cli.render import json_lines
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError

POLL_S = 1.0


def feed(since: Optional[str] = typer.Option(None, "--since", help="From this long ago (90s, 15m, 1h, 2d) or "
                                             "this time (14:30, 2026-11-30T14:30). Default: the last events."),
         limit: int = typer.Option(50, "--limit", "-n", help="At most this many past events (1-2000)."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new events."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Town activity in words: who picked up what, turns, hand-ins, merges, failures, status."""
    from gastown import feed as words  # here: importing it costs every `gt` start

    try:
        start = words.iso(words.parse_since(since)) if since else None
    except ValueError as exc:
        fail(str(exc))
    if not 1 <= limit <= 2000:
        fail("--limit must be 1-2000")
    try:
        with Client(town=town) as client:
            res = client.call(Method.TOWN_FEED, since=start, limit=limit)
            _print(res["events"], as_json)
            while follow:
                time.sleep(POLL_S)
                res = client.call(Method.TOWN_FEED, after=res["seq"], limit=2000)
                _print(res["events"], as_json)
    except RpcError as exc:
        fail(exc.message, exc.code)
    except OSError as exc:
        fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
    except KeyboardInterrupt:
        pass


def _print(events: list[dict[str, object]], as_json: bool) -> None:
    from gastown import feed as words

    sys.stdout.write(json_lines(events) if as_json else "".join(words.line(e) + "\n" for e in events))
    sys.stdout.flush()
