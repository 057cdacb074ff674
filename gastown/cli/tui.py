"""`gt tui`: the live dashboard. Textual is imported here, inside the command, and nowhere
else outside `gastown.tui`."""

from __future__ import annotations

from typing import Annotated

import typer

from gastown.cli.common import TownOpt, fail
from gastown.client import Client
from gastown.protocol import ErrorCode, RpcError

SCREENS = ("overview", "board", "mq")


def tui(
    town: TownOpt = None,
    screen: Annotated[str, typer.Option("--screen", help="First page: overview, board or mq.")] = "overview",
) -> None:
    """Open the live dashboard: overview, bead board, merge queue, agent terminals."""
    if screen not in SCREENS:
        fail(f"--screen must be one of {', '.join(SCREENS)}, not '{screen}'")
    try:
        client = Client(town=town)  # starts the daemon if needed, like every other command
        info = client.call("town.show")
    except RpcError as exc:
        fail(exc.message, exc.code)
    except OSError as exc:
        fail(f"cannot reach the daemon: {exc}", ErrorCode.UNAVAILABLE)
    name = info["name"]

    def connect(timeout: float | None) -> Client:
        return Client(town=name, autostart=False, timeout=timeout)

    client.town = name  # pin the town the dashboard shows, even if more are created later
    from gastown.tui.app import make_app

    make_app(client, connect=connect, start=screen).run()
