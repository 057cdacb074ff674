"""`gt tui`: the live dashboard. Textual is imported inside the command (gastown.cli.dashboard,
which the console script's fast path also runs), and nowhere else outside `gastown.tui`."""

from __future__ import annotations

from typing import Annotated

import typer

from gastown.cli.common import TownOpt
from gastown.cli.dashboard import open_dashboard


def tui(
    town: TownOpt = None,
    screen: Annotated[str, typer.Option("--screen", help="First page: overview, board or mq.")] = "overview",
) -> None:
    """Open the live dashboard: overview, bead board, merge queue, agent terminals."""
    code = open_dashboard(town, screen)
    if code:
        raise typer.Exit(code)
