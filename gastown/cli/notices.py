"""One line each on stderr after a command: what the human must know whatever they ran.

Settings that do not check out are always reported (a hand-edited file is never only a
traceback in the daemon's log); work waiting on a parked branch is told at a terminal.
"""

from __future__ import annotations

from typing import Any

from gastown.cli.plain import Console
from gastown.client import Client
from gastown.protocol import Method, RpcError

err = Console(stderr=True)


def fetch(client: Client) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = client.call(Method.TOWN_NOTICES)
        return result
    except RpcError:  # no town yet, an older daemon: nothing to say
        return None


def show(client: Client, *, tty: bool) -> None:
    notes = fetch(client)
    if not notes:
        return
    for problem in notes.get("config_problems", []):
        err.print(f"gt: config: {problem} (fix it with 'gt config set' or edit the file)", markup=False)
    if tty:
        for parked in notes.get("parked", []):
            err.print(f"! {parked['message']}", markup=False)
