"""The `gt` Typer application: one sub-app per noun, each command thin."""

from __future__ import annotations

import copy
import os
import sys
from typing import Optional

import typer

from gastown import __version__
from gastown.cli import (
    agent, bead, comms, config, convoy, daemon, formula, mayor, rig, steer, system, town, tui, work,
)
from gastown.cli import archive, helpfmt, typerfast
from gastown.cli import costs as costs_cli
from gastown.cli import interop as interop_cli

helpfmt.install()  # help in words (TEXT, NUMBER), not Python type names
typerfast.install()  # plain values skip pydantic (imported only for the values that need it)

app = typer.Typer(
    name="gt",
    help="Gastown: run many AI coding agents on your git repositories at once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(daemon.app, name="daemon")
app.add_typer(town.app, name="town")
app.add_typer(config.app, name="config")
app.add_typer(rig.app, name="rig")
app.add_typer(bead.app, name="bead")
app.add_typer(agent.app, name="agent")
app.add_typer(work.mq, name="mq")
app.command("ready")(bead.ready)
app.command("sling")(work.sling)
app.add_typer(comms.mail, name="mail")
app.add_typer(comms.escalation, name="escalation")
app.command("nudge")(comms.nudge)
app.add_typer(system.image, name="image")
app.add_typer(convoy.app, name="convoy")
app.add_typer(mayor.app, name="mayor")
app.command("tui")(tui.tui)
app.command("doctor")(system.doctor)
for _group, _fns in ((bead.app, (steer.hold, steer.release, steer.retry)), (rig.app, (steer.park, steer.unpark, steer.sync, steer.files)),
                     (town.app, (steer.pause, steer.resume))):
    for _fn in _fns:
        _group.command(_fn.__name__)(_fn)
app.command("costs")(costs_cli.costs)
app.add_typer(costs_cli.budget, name="budget")
app.command("stats")(costs_cli.stats)
app.add_typer(formula.formula_app, name="formula")
app.add_typer(formula.molecule_app, name="molecule")
app.add_typer(formula.persona_app, name="persona")
from gastown.cli import feed as feed_cli  # noqa: E402

app.command("feed")(feed_cli.feed)
bead.app.command("import")(interop_cli.import_)
bead.app.command("export")(interop_cli.export)
app.command("mcp")(interop_cli.mcp)
app.add_typer(interop_cli.imports, name="import")
bead.app.command("archive")(archive.archive)
bead.app.command("unarchive")(archive.unarchive)
convoy.app.command("add")(archive.add)
convoy.app.command("remove")(archive.remove)

_TOOL = {"context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}, "add_help_option": False}


def _tool(name: str, doc: str) -> None:
    """Agent tools are served by the stdlib fast path (gastown.cli.tools); these entries
    only list them in `gt --help` and route there if reached."""

    def cmd(ctx: typer.Context) -> None:
        from gastown.cli import tools  # argparse and all: only when a tool is reached this way

        raise typer.Exit(tools.run(name, list(ctx.args)))

    cmd.__doc__ = doc
    app.command(name, **_TOOL)(cmd)  # type: ignore[arg-type]


_tool("prime", "Agent tool: print your identity, hooked bead and instructions.")
_tool("done", "Agent tool: hand your committed branch to the merge queue.")
_tool("status", "The town at a glance; agents: 'gt status MESSAGE' tells the humans what you are doing.")
_tool("escalate", "Agent tool: ask for help when you are stuck.")
_tool("triage", "Triage agent tool: 'gt triage wait|restart|escalate WHY'.")
_tool("review", "Refinery agent tool: 'gt review approve' or 'gt review request-changes WHY'.")
_tool("step", "Agent tool: 'gt step done [--summary]' advances a single-mode molecule.")


def _version(value: bool) -> None:
    if value:
        print(f"gt {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit."),
         town: Optional[str] = typer.Option(None, "--town", help="Town to act on, for any command "
                                            "(default: GT_TOWN, then the only town).")) -> None:
    """Gastown: run many AI coding agents on your git repositories at once.

    Example: gt --town app-town sling "add a mul function"
    """
    if town:  # every command's own --town reads GT_TOWN; one given after the command still wins
        os.environ["GT_TOWN"] = town


helpfmt.add_examples(app)


def _only(args: list[str]) -> typer.Typer:
    """The app with only the command `args` names (plus the root options), so Typer builds
    one sub-app's click commands instead of all of them; the whole app for anything else
    (`--help`, `--version`, no or an unknown command). Help and errors read the same:
    they come from the same registered objects."""
    it = iter(args)
    name = None
    for arg in it:
        if arg == "--town":
            next(it, None)
        elif not arg.startswith("--town="):
            name = arg
            break
    if name is None or name.startswith("-"):
        return app
    groups = [g for g in app.registered_groups if g.name == name]
    commands = [c for c in app.registered_commands if c.name == name]
    if len(groups) + len(commands) != 1:
        return app
    only = copy.copy(app)  # same settings, info and root callback
    only.registered_groups, only.registered_commands = groups, commands
    return only


def run() -> None:
    _only(sys.argv[1:])()
