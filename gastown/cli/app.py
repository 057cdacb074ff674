"""The `gt` Typer application: one sub-app per noun, each command thin."""

from __future__ import annotations

import typer

from gastown import __version__
from gastown.cli import bead, config, daemon, rig, town

app = typer.Typer(
    name="gt",
    help="Gastown: run many AI coding agents on your git repositories at once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(daemon.app, name="daemon")
app.add_typer(town.app, name="town")
app.add_typer(config.app, name="config")
app.add_typer(rig.app, name="rig")
app.add_typer(bead.app, name="bead")
app.command("ready")(bead.ready)


def _version(value: bool) -> None:
    if value:
        print(f"gt {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Gastown: run many AI coding agents on your git repositories at once."""


def run() -> None:
    app()
