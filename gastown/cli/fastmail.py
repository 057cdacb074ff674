"""`gt mail inbox|read` for agents, on the stdlib fast path (no Typer, no rich).

Agents read their mail in their tool loop; these print exactly what the Typer commands in
`gastown.cli.comms` print. Only agents (GT_AGENT_TOKEN set) come here: for a human the
Typer command also shows the town's notices. Anything the parsers here do not know
(`--help`, a typo) returns None and goes to Typer, which answers it as before.
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any

from gastown.cli.plain import Console
from gastown.cli.render import bead_text, cell, emit_json
from gastown.protocol import Method

INBOX_COLUMNS = [("id", "ID"), ("status", "STATUS"), ("from", "FROM"), ("title", "SUBJECT"), ("created_at", "SENT")]


def _parse(args: list[str], values: tuple[str, ...], flags: tuple[str, ...]) -> tuple[dict[str, Any], list[str]] | None:
    """Options (`--name V`, `--name=V`) and flags as Typer takes them; None: not for us."""
    opts: dict[str, Any] = {}
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        name, eq, val = arg.partition("=")
        if name in values:
            value = val if eq else next(it, None)
            if value is None:
                return None
            opts[name] = value
        elif arg in flags:
            opts[arg] = True
        elif arg.startswith("-"):
            return None
        else:
            rest.append(arg)
    return opts, rest


def _call(method: str, town: str | None, **params: Any) -> tuple[int, Any]:
    """`gastown.cli.common.call` for an agent: (exit status, result)."""
    from gastown.client import Client
    from gastown.protocol import ErrorCode, RpcError, exit_code

    err = Console(stderr=True)
    try:
        with Client(town=town or os.environ.get("GT_TOWN") or None) as client:
            return 0, client.call(method, **params)
    except RpcError as exc:
        err.print(f"gt: {exc.message}", markup=False)
        return exit_code(exc.code), None
    except OSError as exc:
        err.print(f"gt: cannot reach the daemon: {exc}", markup=False)
        return exit_code(ErrorCode.UNAVAILABLE), None


def inbox(args: list[str]) -> int | None:
    parsed = _parse(args, ("--box", "--town"), ("--unread", "--json"))
    if not os.environ.get("GT_AGENT_TOKEN") or parsed is None or parsed[1]:
        return None
    opts = parsed[0]
    code, rows = _call(Method.MAIL_INBOX, opts.get("--town"), box=opts.get("--box"), unread=opts.get("--unread"))
    if code:
        return code
    for r in rows:
        r["from"] = r["metadata"].get("from")
    if opts.get("--json"):
        emit_json(rows)
    elif not rows:
        Console(stderr=True).print("(no mail)")
    else:
        Console().table([h for _, h in INBOX_COLUMNS],
                        [[cell(r.get(k)) for k, _ in INBOX_COLUMNS] for r in rows])
    return 0


def read(args: list[str]) -> int | None:
    parsed = _parse(args, ("--town",), ("--json",))
    if not os.environ.get("GT_AGENT_TOKEN") or parsed is None or len(parsed[1]) != 1:
        return None
    opts, (msg_id,) = parsed
    code, msg = _call(Method.MAIL_READ, opts.get("--town"), id=msg_id)
    if code:
        return code
    if opts.get("--json"):
        emit_json([msg])
    else:
        sys.stdout.write(bead_text(msg))
    return 0
