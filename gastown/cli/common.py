"""Shared options and plumbing for the Typer commands: one client call, then render."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Iterable, NoReturn, Optional

import typer

from gastown.cli import notices
from gastown.cli.plain import Console
from gastown.cli.render import cell, emit_json
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError, exit_code

TownOpt = Annotated[Optional[str], typer.Option("--town", envvar="GT_TOWN", help="Town to act on (default: the only town).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

out = Console()
err = Console(stderr=True)  # errors stay one line, never wrapped (rich's soft wrap)


def fail(message: str, code: int = ErrorCode.INVALID_PARAMS) -> NoReturn:
    err.print(f"gt: {message}", markup=False)
    raise typer.Exit(exit_code(code))


def call(method: str, town: str | None = None, *, _town: bool = True, **params: Any) -> Any:
    """Connect (starting the daemon if needed), make one call, turn errors into exits."""
    try:
        with Client(town=town) as client:
            result = client.call(method, _town=_town, **params)
            if _town and not os.environ.get("GT_AGENT_TOKEN"):
                notices.show(client, tty=sys.stderr.isatty())
                if sys.stderr.isatty():
                    _escalation_notice(client)
            return result
    except RpcError as exc:
        fail(exc.message, exc.code)
    except OSError as exc:
        fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)


def _escalation_notice(client: Client) -> None:
    """The terminal leg of escalation routing: a human at a terminal hears about high and
    critical escalations nobody has acknowledged (and budgets past 80 %), whatever command
    they ran."""
    try:
        loud = [e for e in client.call(Method.ESCALATION_LIST)
                if e["severity"] in ("high", "critical") or e.get("category") == "budget_warning"]
    except RpcError:
        return
    if loud:
        err.print(f"[bold red]! {len(loud)} unacknowledged {loud[0]['severity']} escalation(s)[/]: "
                  f"{loud[0]['title'][:80]} (gt escalation list)")


def table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]], *, empty: str = "nothing") -> None:
    """A rich table on stdout; `columns` are (key, header) pairs."""
    rows = list(rows)
    if not rows:
        err.print(f"({empty})")
        return
    out.table([header for _, header in columns], [[cell(row.get(key)) for key, _ in columns] for row in rows])


def show(objs: Iterable[dict[str, Any]], as_json: bool, columns: list[tuple[str, str]], *, empty: str = "nothing") -> None:
    objs = list(objs)
    if as_json:
        emit_json(objs)
    else:
        table(objs, columns, empty=empty)


def is_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
