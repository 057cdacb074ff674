"""The `gt` Typer application: one sub-app per noun, each command thin.

Every top-level command is a row of COMMANDS: its name, the first paragraph of its help
(what `gt --help` lists) and the function that imports its module and registers it.
`gt bead list` imports `gastown.cli.bead` and builds `list` alone; `gt --help` imports no
command module at all (`gastown.cli.lazy` explains how). `full_app()` registers every row
the usual Typer way; tests check that the two read the same (`tests/test_cli_lazy.py`), so
a row whose help drifted from its command's docstring fails there, saying which.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Callable, NamedTuple, Optional

import typer
from typer import _click
from typer.core import TyperGroup

from gastown import __version__
from gastown.cli import helpfmt, lazy, typerfast

helpfmt.install()  # help in words (TEXT, NUMBER), not Python type names
typerfast.install()  # plain values skip pydantic (imported only for the values that need it)

Register = Callable[[typer.Typer], None]


def _attach(group: typer.Typer, *commands: tuple[str, Callable[..., None]]) -> None:
    """Commands defined in another module, registered on `group` once (a row may be loaded
    again in the same process: tests, `full_app()`)."""
    names = {c.name for c in group.registered_commands}
    for name, fn in commands:
        if name not in names:
            group.command(name)(fn)


def _daemon(gt: typer.Typer) -> None:
    from gastown.cli import daemon

    gt.add_typer(daemon.app, name="daemon")


def _town(gt: typer.Typer) -> None:
    from gastown.cli import steer, town

    _attach(town.app, ("pause", steer.pause), ("resume", steer.resume))
    gt.add_typer(town.app, name="town")


def _config(gt: typer.Typer) -> None:
    from gastown.cli import config

    gt.add_typer(config.app, name="config")


def _rig(gt: typer.Typer) -> None:
    from gastown.cli import rig, steer

    _attach(rig.app, ("park", steer.park), ("unpark", steer.unpark), ("sync", steer.sync), ("files", steer.files))
    gt.add_typer(rig.app, name="rig")


def _bead(gt: typer.Typer) -> None:
    from gastown.cli import archive, bead, interop, steer

    _attach(bead.app, ("hold", steer.hold), ("release", steer.release), ("retry", steer.retry),
            ("import", interop.import_), ("export", interop.export),
            ("archive", archive.archive), ("unarchive", archive.unarchive))
    gt.add_typer(bead.app, name="bead")


def _agent(gt: typer.Typer) -> None:
    from gastown.cli import agent

    gt.add_typer(agent.app, name="agent")


def _mq(gt: typer.Typer) -> None:
    from gastown.cli import work

    gt.add_typer(work.mq, name="mq")


def _ready(gt: typer.Typer) -> None:
    from gastown.cli import bead

    gt.command("ready")(bead.ready)


def _sling(gt: typer.Typer) -> None:
    from gastown.cli import work

    gt.command("sling")(work.sling)


def _mail(gt: typer.Typer) -> None:
    from gastown.cli import comms

    gt.add_typer(comms.mail, name="mail")


def _escalation(gt: typer.Typer) -> None:
    from gastown.cli import comms

    gt.add_typer(comms.escalation, name="escalation")


def _nudge(gt: typer.Typer) -> None:
    from gastown.cli import comms

    gt.command("nudge")(comms.nudge)


def _image(gt: typer.Typer) -> None:
    from gastown.cli import system

    gt.add_typer(system.image, name="image")


def _convoy(gt: typer.Typer) -> None:
    from gastown.cli import archive, convoy

    _attach(convoy.app, ("add", archive.add), ("remove", archive.remove))
    gt.add_typer(convoy.app, name="convoy")


def _mayor(gt: typer.Typer) -> None:
    from gastown.cli import mayor

    gt.add_typer(mayor.app, name="mayor")


def _tui(gt: typer.Typer) -> None:
    from gastown.cli import tui

    gt.command("tui")(tui.tui)


def _doctor(gt: typer.Typer) -> None:
    from gastown.cli import system

    gt.command("doctor")(system.doctor)


def _costs(gt: typer.Typer) -> None:
    from gastown.cli import costs

    gt.command("costs")(costs.costs)


def _budget(gt: typer.Typer) -> None:
    from gastown.cli import costs

    gt.add_typer(costs.budget, name="budget")


def _stats(gt: typer.Typer) -> None:
    from gastown.cli import costs

    gt.command("stats")(costs.stats)


def _formula(gt: typer.Typer) -> None:
    from gastown.cli import formula

    gt.add_typer(formula.formula_app, name="formula")


def _molecule(gt: typer.Typer) -> None:
    from gastown.cli import formula

    gt.add_typer(formula.molecule_app, name="molecule")


def _persona(gt: typer.Typer) -> None:
    from gastown.cli import formula

    gt.add_typer(formula.persona_app, name="persona")


def _feed(gt: typer.Typer) -> None:
    from gastown.cli import feed

    gt.command("feed")(feed.feed)


def _mcp(gt: typer.Typer) -> None:
    from gastown.cli import interop

    gt.command("mcp")(interop.mcp)


def _import(gt: typer.Typer) -> None:
    from gastown.cli import interop

    gt.add_typer(interop.imports, name="import")


_TOOL = {"context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}, "add_help_option": False}


def _tool(name: str, doc: str) -> Register:
    """Agent tools are served by the stdlib fast path (gastown.cli.tools); these entries
    only list them in `gt --help` and route there if reached."""

    def cmd(ctx: typer.Context) -> None:
        from gastown.cli import tools  # argparse and all: only when a tool is reached this way

        raise typer.Exit(tools.run(name, list(ctx.args)))

    cmd.__doc__ = doc

    def register(gt: typer.Typer) -> None:
        gt.command(name, **_TOOL)(cmd)  # type: ignore[arg-type]

    return register


class Row(NamedTuple):
    name: str
    help: str
    """The first paragraph of the command's help, words separated by single spaces."""
    register: Register


COMMANDS = [  # commands first, then groups: the order `gt --help` lists them in
    Row("ready", "List open issues that can start now (every blocker closed), highest priority first.", _ready),
    Row("sling", "Give work to the town: a polecat picks it up as soon as it is ready. With --batch, a whole "
        "convoy at once (all or nothing); --staged lets you edit it before 'gt convoy start'.", _sling),
    Row("nudge", "Nudge an agent: an idle one gets a turn now (immediate, wait-idle); a busy one reads it next "
        "turn.", _nudge),
    Row("tui", "Open the live dashboard: overview, bead board, merge queue, agent terminals.", _tui),
    Row("doctor", "Check this host: git, the container engine (and what was configured for it, and why), the "
        "town image, the agent CLIs and the sandbox as the daemon finds them (it is started if needed), the "
        "towns' settings and forges. Explains how to get what is missing.", _doctor),
    Row("costs", "Tokens and dollars per bead, convoy, agent, human, rig, model, day or turn.", _costs),
    Row("stats", "Is work flowing: merges per hour, sling -> merged time, first-try gate pass rate, rework and "
        "failure rates, agent utilisation, queue depth, spend per model.", _stats),
    Row("feed", "Town activity in words: who picked up what, turns, hand-ins, merges, failures, status.", _feed),
    Row("mcp", "Serve this town to MCP clients over stdio (Claude Code, Claude Desktop, Cursor, opencode…): tools "
        "to sling, list, show, update, close and hold beads, see what is ready, run convoys and formulas, read "
        "agents' logs and the merge queue, and ask the Mayor.", _mcp),
    *(Row(name, doc, _tool(name, doc)) for name, doc in (
        ("prime", "Agent tool: print your identity, hooked bead and instructions."),
        ("done", "Agent tool: hand your committed branch to the merge queue."),
        ("status", "The town at a glance; agents: 'gt status MESSAGE' tells the humans what you are doing."),
        ("escalate", "Agent tool: ask for help when you are stuck."),
        ("triage", "Triage agent tool: 'gt triage wait|restart|escalate WHY'."),
        ("review", "Refinery agent tool: 'gt review approve' or 'gt review request-changes WHY'."),
        ("step", "Agent tool: 'gt step done [--summary]' advances a single-mode molecule."),
    )),
    Row("daemon", "Run and inspect the background daemon.", _daemon),
    Row("town", "Create, list, inspect and delete towns (workspaces).", _town),
    Row("config", "Read and change town and rig settings (TOML).", _config),
    Row("rig", "Connect git repositories (rigs) to a town.", _rig),
    Row("bead", "Create, inspect and change beads (work items).", _bead),
    Row("agent", "Inspect and control agents (polecats, mayor, refinery).", _agent),
    Row("mq", "The merge queue.", _mq),
    Row("mail", "Durable messages between agents, the mayor and humans.", _mail),
    Row("escalation", "Escalations: problems that need a human or the mayor.", _escalation),
    Row("image", "Build the town container image.", _image),
    Row("convoy", "Batches of beads that move and land together.", _convoy),
    Row("mayor", "Talk to the Mayor, the agent that plans and delegates.", _mayor),
    Row("budget", "Caps on tokens or dollars per town, rig, convoy, bead or human.", _budget),
    Row("formula", "Reusable multi-step work (TOML formulas) poured into molecules.", _formula),
    Row("molecule", "Poured formulas: a molecule bead and its step beads.", _molecule),
    Row("persona", "Agent profiles: adapter, model, instructions, turn limit.", _persona),
    Row("import", "Bring work in from other tools.", _import),
]


class GtGroup(lazy.LazyGroup):
    """The root group: a stub per COMMANDS row, then anything registered on `app` directly."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        stubs = {row.name: lazy.Stub(row.name, functools.partial(self.load, row), row.help) for row in COMMANDS}
        self.commands = {**stubs, **self.commands}

    def load(self, row: Row) -> _click.Command:
        holder = typer.Typer()
        row.register(holder)
        helpfmt.add_examples(holder)
        return lazy.build(holder, self)


app = typer.Typer(
    name="gt",
    help="Gastown: run many AI coding agents on your git repositories at once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=GtGroup,
)
GtGroup.pretty_exceptions_short = app.pretty_exceptions_short


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


def full_app() -> typer.Typer:
    """`gt` with every row registered the usual Typer way, no stubs: what the lazy `app`
    must read the same as (its help, its commands' help)."""
    full = copy.copy(app)
    full.info = copy.copy(app.info)
    full.info.cls = TyperGroup
    full.registered_commands, full.registered_groups = list(app.registered_commands), list(app.registered_groups)
    for row in COMMANDS:
        row.register(full)
    helpfmt.add_examples(full)
    return full


def run() -> None:
    app()
