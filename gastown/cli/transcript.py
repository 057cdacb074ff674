"""Rendering turn transcripts in the terminal: `gt agent logs` and `gt bead log`.

The daemon serves events in pages (`agent.transcript`); these helpers fetch them on one
connection and print :func:`gastown.transcript.render` lines. Following a running turn
prints only the events that are final (see :func:`gastown.transcript.stable`)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from gastown import transcript as tr
from gastown.cli.common import fail
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError

POLL_S = 0.5


def fetch(client: Client, name: str, turn: str | None, offset: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All events of the turn from `offset`, paging until the end; and the last answer."""
    items: list[dict[str, Any]] = []
    while True:
        res = client.call(Method.AGENT_TRANSCRIPT, name=name, turn=turn, offset=offset)
        items += res["events"]
        offset = res["offset"]
        if offset >= res["total"] or not res["events"]:
            return items, res


def write(lines: Any) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def header(summary: dict[str, Any]) -> str:
    """`── toast turn 0002 (claude) on gt-abc1 · exit 0 · 1,234 in / 56 out ──`."""
    bits = [f"{summary['agent']} turn {summary['turn']}"]
    if summary.get("adapter"):
        bits[0] += f" ({summary['adapter']})"
    if summary.get("bead"):
        bits.append(f"on {summary['bead']}" + (f" {summary['title']}" if summary.get("title") else ""))
    if summary.get("started_at"):
        bits.append(str(summary["started_at"]))
    if summary.get("running"):
        bits.append("running")
    elif summary.get("reason"):
        bits.append(f"{summary['reason']} (exit {summary.get('exit_code')})")
    return "── " + " · ".join(bits) + " ──"


def show_turn(name: str, turn: str | None, *, town: str | None, follow: bool, as_json: bool) -> None:
    """Print one turn's transcript (then keep following it while it runs, with `follow`)."""
    try:
        with Client(town=town) as client:
            items, res = fetch(client, name, turn)
            if res["turn_dir"] is None:
                fail(f"agent {name} has not run a turn yet", ErrorCode.NOT_FOUND)
            _print(items, res, follow, as_json, lambda off: fetch(client, name, turn, off))
    except RpcError as exc:
        fail(exc.message, exc.code)
    except OSError as exc:
        fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)


def _print(items: list[dict[str, Any]], res: dict[str, Any], follow: bool, as_json: bool, more: Any) -> None:
    events = tr.from_dicts(items)
    if as_json:
        sys.stdout.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in items))
    running = follow and res["running"]
    done = tr.stable(events) if running else len(events)
    if not as_json:
        write(tr.render(events, start=0, stop=done if running else None))
    while running:
        time.sleep(POLL_S)
        new, res = more(len(events) if as_json else len(events))
        events += tr.from_dicts(new)
        running = res["running"]
        if as_json:
            sys.stdout.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in new))
            sys.stdout.flush()
            continue
        upto = tr.stable(events) if running else len(events)
        if upto > done or not running:
            write(tr.render(events, start=done, stop=upto if running else None))
            done = upto


def show_bead(bead_id: str, *, town: str | None, as_json: bool) -> None:
    """Every turn on a bead, each under a header line."""
    try:
        with Client(town=town) as client:
            turns = client.call(Method.BEAD_LOG, id=bead_id)
            if not turns:
                print(f"(no agent turns on {bead_id} yet)", file=sys.stderr)
            for t in turns:
                items, _ = fetch(client, t["agent"], t["turn"])
                if as_json:
                    sys.stdout.write(json.dumps({**t, "events": items}, ensure_ascii=False) + "\n")
                    continue
                write([header(t), *tr.render(tr.from_dicts(items)), ""])
    except RpcError as exc:
        fail(exc.message, exc.code)
    except OSError as exc:
        fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
