"""Rendering turn transcripts in the terminal: `gt agent logs` and `gt bead log`.

The daemon serves events in pages (`agent.transcript`); these helpers fetch them on one
connection and print :func:`gastown.transcript.render` lines. Following a running turn
prints only the events that are final (see :func:`gastown.transcript.stable`). Stdlib only:
`gt agent logs` and `gt bead log` take the fast path (gastown.cli.entry), since importing
the Typer application costs more than rendering ten thousand events."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from gastown import transcript as tr
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError, exit_code

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


def _failed(message: str, code: int) -> int:
    sys.stderr.write(f"gt: {message}\n")
    return exit_code(code)


def show_turn(name: str, turn: str | None, *, town: str | None, follow: bool, as_json: bool) -> int:
    """Print one turn's transcript (then keep following it while it runs, with `follow`).
    Returns the exit status."""
    try:
        with Client(town=town) as client:
            items, res = fetch(client, name, turn)
            if res["turn_dir"] is None:
                return _failed(f"agent {name} has not run a turn yet", ErrorCode.NOT_FOUND)
            _print(items, res, follow, as_json, lambda off: fetch(client, name, turn, off))
    except RpcError as exc:
        return _failed(exc.message, exc.code)
    except OSError as exc:
        return _failed(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
    except KeyboardInterrupt:
        pass
    return 0


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


def show_bead(bead_id: str, *, town: str | None, as_json: bool) -> int:
    """Every turn on a bead, each under a header line. Returns the exit status."""
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
        return _failed(exc.message, exc.code)
    except OSError as exc:
        return _failed(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
    return 0


def fast_args(args: list[str], flags: dict[str, str], options: tuple[str, ...]) -> dict[str, object] | None:
    """A tiny parser for the fast path: one positional, known flags and `--opt V`/`--opt=V`;
    None (let Typer handle it, with its help and errors) for anything else."""
    parsed: dict[str, object] = {}
    positional: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in flags:
            parsed[flags[arg]] = True
        elif arg in options:
            value = next(it, None)
            if value is None:
                return None
            parsed[arg[2:]] = value
        elif arg.startswith("--") and arg.split("=", 1)[0] in options and "=" in arg:
            key, value = arg.split("=", 1)
            parsed[key[2:]] = value
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
    if len(positional) != 1:
        return None
    parsed["target"] = positional[0]
    return parsed


def fast_agent_logs(args: list[str]) -> int | None:
    """`gt agent logs NAME [-f] [--json] [--turn N] [--town T]` (not --raw) on the fast path."""
    p = fast_args(args, {"-f": "follow", "--follow": "follow", "--json": "json"}, ("--turn", "--town"))
    if p is None:
        return None
    return show_turn(str(p["target"]), _opt(p, "turn"), town=_opt(p, "town"), follow=bool(p.get("follow")),
                     as_json=bool(p.get("json")))


def fast_bead_log(args: list[str]) -> int | None:
    """`gt bead log ID [--json] [--town T]` on the fast path."""
    p = fast_args(args, {"--json": "json"}, ("--town",))
    if p is None:
        return None
    return show_bead(str(p["target"]), town=_opt(p, "town"), as_json=bool(p.get("json")))


def _opt(parsed: dict[str, object], key: str) -> str | None:
    value = parsed.get(key)
    return None if value is None else str(value)
