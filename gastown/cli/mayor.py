"""`gt mayor ask "…"` (one-shot, scriptable) and `gt mayor chat` (interactive)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from gastown import paths
from gastown.cli.common import JsonOpt, TownOpt, err, fail, out
from gastown.cli.render import emit_json
from gastown.cli.work import human
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError, exit_code

app = typer.Typer(help="Talk to the Mayor, the agent that plans and delegates.", no_args_is_help=True)


def converse(client: Client, message: str, *, stream: bool, timeout: float) -> dict[str, Any]:
    """Send one message and follow the reply until the mayor's turn ends."""
    sent = client.call(Method.MAYOR_SEND, message=message, human=human())
    shown = ""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.call(Method.MAYOR_REPLY)
        text = reply["text"]
        if stream and text.startswith(shown) and len(text) > len(shown):
            sys.stdout.write(text[len(shown):])
            sys.stdout.flush()
            shown = text
        if reply["done"]:
            return {**reply, "id": sent["id"], "status": "answered", "resumed": sent["resumed"]}
        if time.monotonic() > deadline:
            fail(f"no answer from the mayor within {timeout:.0f} s (it keeps working; see 'gt agent logs mayor')")
        time.sleep(0.3)


@app.command()
def ask(message: str = typer.Argument(..., help="What to ask ('-' reads stdin)."),
        timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the answer."),
        town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Ask the mayor one thing and print its answer (scriptable)."""
    if message == "-":
        message = sys.stdin.read()
    try:
        with Client(town=town) as client:
            reply = converse(client, message, stream=not as_json, timeout=timeout)
    except RpcError as exc:
        fail(exc.message, exc.code)
    failed = reply.get("exit_code") not in (0, None)
    if as_json:
        emit_json([{"id": reply["id"], "status": "failed" if failed else reply["status"], "reply": reply["text"],
                    "session_id": reply.get("session_id"), "resumed": reply["resumed"],
                    "exit_code": reply.get("exit_code")}])
    else:
        if not reply["text"].endswith("\n"):
            sys.stdout.write("\n")
        if failed:
            err.print(f"gt: the mayor's turn failed (exit status {reply['exit_code']}); see 'gt agent logs mayor'",
                      markup=False)
    if failed:
        raise typer.Exit(exit_code(ErrorCode.EXTERNAL))


def _read_message() -> Optional[str]:
    """One message: a line, or several joined by a trailing backslash, or a block between
    lines of three quotes. None at end of input."""
    try:
        first = input("you> ")
    except EOFError:
        return None
    if first.strip() == '"""':
        lines = []
        while (line := input("... ")).strip() != '"""':
            lines.append(line)
        return "\n".join(lines)
    lines = [first]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(input("... "))
    return "\n".join(lines)


@app.command()
def chat(timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for each answer."),
         town: TownOpt = None) -> None:
    """Chat with the mayor: replies stream in and are rendered; end a line with \\ (or use a
    \"\"\" block) for multi-line input; arrow keys recall history; Ctrl-D leaves."""
    from rich.markdown import Markdown

    try:
        import readline

        history = paths.home() / "mayor_history"
        if history.exists():
            readline.read_history_file(str(history))
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    err.print("Talking to the mayor (Ctrl-D to leave).")
    with Client(town=town) as client:
        while (message := _read_message()) is not None:
            if not message.strip():
                continue
            try:
                reply = converse(client, message, stream=False, timeout=timeout)
            except RpcError as exc:
                err.print(f"gt: {exc.message}", markup=False)
                continue
            out.print(Markdown(reply["text"] or "_(no reply)_"))
            if readline is not None:
                Path(paths.home()).mkdir(parents=True, exist_ok=True)
                readline.write_history_file(str(paths.home() / "mayor_history"))
