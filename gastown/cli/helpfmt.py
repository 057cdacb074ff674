"""Help text in words, not Python type names.

Typer renders an option's type as `<str>`, `<list[str]>` or `<int range>`; people read
`TEXT`, `TEXT (repeatable)` and `NUMBER`. Installed once by `gastown.cli.app`.
"""

from __future__ import annotations

import re
from typing import Any

from typer import core

WORDS = {"str": "TEXT", "int": "NUMBER", "float": "NUMBER", "bool": "", "path": "PATH", "int range": "NUMBER",
         "float range": "NUMBER", "file": "PATH", "directory": "DIR"}


def words(label: str) -> str:
    """`<list[str]>` -> `TEXT...`, `<int range>` -> `NUMBER`, `<a|b>` stays `a|b`."""
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    many = re.fullmatch(r"list\[(.*)\]", inner)
    if many:
        inner = many.group(1)
    inner = WORDS.get(inner, inner)
    return f"{inner}..." if many and inner else inner


def install() -> None:
    original = core._TyperParameter.display_type

    def display_type(self: Any, ctx: Any) -> str:
        return words(original(self, ctx))

    core._TyperParameter.display_type = display_type  # type: ignore[method-assign]


EXAMPLES = {
    "daemon": "gt daemon status",
    "town": "gt town create app-town   (then: gt town pause --reason \"rate limited\")",
    "config": "gt config set refinery.gates '[\"pytest -q\"]' --rig app",
    "rig": "gt rig add app ~/src/app   (then: gt rig park app, gt rig sync app)",
    "bead": "gt bead list --status open   (or: gt bead hold ID --reason \"waiting\")",
    "agent": "gt agent logs toast -f",
    "mq": "gt mq list --status open",
    "mail": "gt mail send toast \"rebase on main first\"",
    "escalation": "gt escalation list",
    "image": "gt image build",
    "convoy": "gt sling --batch examples/convoy.toml --staged && gt convoy start ID",
    "mayor": "gt mayor ask \"what is blocked and why?\"",
    "budget": "gt budget list",
    "formula": "gt formula list",
    "molecule": "gt molecule list",
    "persona": "gt persona list",
}
"""One example per command group, appended to the group's help."""


def add_examples(app: Any) -> None:
    for group in app.registered_groups:
        info = group.typer_instance.info
        text = info.help if isinstance(info.help, str) else ""
        if group.name in EXAMPLES and text and "Example:" not in text:
            info.help = f"{text}\n\nExample: {EXAMPLES[group.name]}"
