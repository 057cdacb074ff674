"""Typer groups that build a command only when it is about to run.

Typer turns every registered command into a click command before it parses anything
(`inspect.signature` and `typing.get_type_hints` for each), and a registry that imports every
CLI module to register them costs more again; `gt bead list` needs one module and one
command. A `LazyGroup` lists stubs instead: a name and the help text, which is all that
`--help` listings and "did you mean" suggestions read. Click asks `get_command` for the one
command it resolves, and only then is that command built (a sub-app again as a LazyGroup,
so `gt bead list` builds `list`, not the bead group's twenty commands).
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable

import typer
import typer.main
from typer import _click
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo


class Stub(TyperCommand):
    """A listed command not built yet: its name and help for listings; `load()` builds it."""

    def __init__(self, name: str, load: Callable[[], _click.Command], help: str | None,
                 short_help: str | None = None, hidden: bool = False, deprecated: bool = False) -> None:
        super().__init__(name, help=help, short_help=short_help, hidden=hidden, deprecated=deprecated,
                         add_help_option=False)
        self.load = load


class LazyGroup(TyperGroup):
    """A TyperGroup whose `commands` may hold stubs, built into real commands on first use."""

    pretty_exceptions_short = True
    """What Typer passes down to the commands it builds (the root app's setting)."""

    _listing = False

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, Stub) and not self._listing:
            cmd = self.commands[cmd_name] = cmd.load()
        return cmd

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """Typer's listing, reading the stubs' help rather than building every command."""
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def settings(self) -> dict[str, Any]:
        return {"pretty_exceptions_short": self.pretty_exceptions_short, "rich_markup_mode": self.rich_markup_mode}


def build(holder: typer.Typer, parent: LazyGroup) -> _click.Command:
    """The one command or group registered on `holder`, as Typer would build it under
    `parent` (its settings), a group as a LazyGroup."""
    if holder.registered_groups:
        return lazy_group(holder.registered_groups[0], parent)
    return typer.main.get_command_from_info(holder.registered_commands[0], **parent.settings())


def lazy_group(info: TyperInfo, parent: LazyGroup) -> LazyGroup:
    """Typer's group for `info` (callback, options, help as Typer builds them), its
    commands and sub-groups as stubs."""
    sub = info.typer_instance
    assert sub is not None
    shallow = copy.copy(sub)
    shallow.registered_commands, shallow.registered_groups = [], []
    bare = copy.copy(info)
    bare.typer_instance, bare.cls = shallow, LazyGroup
    group = typer.main.get_group_from_info(bare, suggest_commands=parent.suggest_commands, **parent.settings())
    assert isinstance(group, LazyGroup)
    group.pretty_exceptions_short = parent.pretty_exceptions_short
    for command_info in sub.registered_commands:
        stub = command_stub(command_info, group)
        group.commands[stub.name or ""] = stub
    for group_info in sub.registered_groups:
        solved = typer.main.solve_typer_info_defaults(group_info)
        name = solved.name or ""
        group.commands[name] = Stub(name, functools.partial(lazy_group, group_info, group), solved.help,
                                    solved.short_help, bool(solved.hidden), bool(solved.deprecated))
    return group


def command_stub(info: CommandInfo, parent: LazyGroup) -> Stub:
    """A stub with the name and help Typer would give the command (`get_command_from_info`)."""
    assert info.callback is not None
    name = info.name or typer.main.get_command_name(info.callback.__name__)
    text = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
    return Stub(name, functools.partial(typer.main.get_command_from_info, info, **parent.settings()), text,
                info.short_help, info.hidden, info.deprecated)
