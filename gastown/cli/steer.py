"""Steering by hand: `gt bead hold|release|retry`, `gt rig park|unpark`, `gt town pause|resume`.

Registered on the `bead`, `rig` and `town` groups by `gastown.cli.app`; each is one call.
"""

from __future__ import annotations

from typing import Any

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, out
from gastown.cli.render import emit_json
from gastown.protocol import Method

IdArg = typer.Argument(..., metavar="ID", help="Bead id (a unique prefix is enough).")


def _say(obj: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        emit_json([obj])
    else:
        out.print(text, markup=False)


def hold(bead_id: str = IdArg, reason: str = typer.Option("", "--reason", help="Why (shown to whoever looks)."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Never dispatch this bead until released; a running turn stops and its commits stay on its branch.

    Example: gt bead hold gt-abc12 --reason "waiting for the API decision"
    """
    bead = call(Method.BEAD_HOLD, town, id=bead_id, reason=reason)
    stopped = bead.get("stopped_agent")
    extra = f"; stopped {stopped['name']}'s turn (its work stays on its branch)" if stopped else ""
    _say(bead, as_json, f"held {bead['id']} [{bead['status']}] {bead['title']}{extra} "
                        f"(gt bead release {bead['id']} to let it run)")


def release(bead_id: str = IdArg, town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Let a held bead be dispatched again.

    Example: gt bead release gt-abc12
    """
    bead = call(Method.BEAD_RELEASE, town, id=bead_id)
    _say(bead, as_json, f"released {bead['id']} [{bead['status']}] {bead['title']}")


def retry(bead_id: str = IdArg,
          reason: str = typer.Option("", "--reason", help="Why it should run again (required for a failed bead)."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Dispatch a bead now: clears its backoff and any hold; reopens a failed bead with --reason.

    Example: gt bead retry gt-abc12 --reason "the flaky test is fixed"
    """
    bead = call(Method.BEAD_RETRY, town, id=bead_id, reason=reason)
    _say(bead, as_json, f"retrying {bead['id']} [{bead['status']}] {bead['title']}")


def park(name: str = typer.Argument(..., help="Rig name."),
         reason: str = typer.Option("", "--reason", help="Why."), town: TownOpt = None,
         as_json: JsonOpt = False) -> None:
    """Stop new dispatch and merges on a rig (running turns finish).

    Example: gt rig park calc --reason "release freeze"
    """
    state = call(Method.RIG_PARK, town, name=name, reason=reason)
    _say(state, as_json, f"parked rig {name}: no new work or merges until 'gt rig unpark {name}'")


def unpark(name: str = typer.Argument(..., help="Rig name."), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Let a parked rig dispatch and merge again.

    Example: gt rig unpark calc
    """
    state = call(Method.RIG_UNPARK, town, name=name)
    _say(state, as_json, f"unparked rig {name}")


def pause(reason: str = typer.Option("", "--reason", help="Why."), town: TownOpt = None,
          as_json: JsonOpt = False) -> None:
    """Stop every turn, keep all work, and dispatch or merge nothing until 'gt town resume'.

    Example: gt town pause --reason "rate limited"
    """
    state = call(Method.TOWN_PAUSE, town, reason=reason)
    n = len(state.get("stopped", []))
    _say(state, as_json, f"paused town {state['id']}: stopped {n} turn(s); nothing runs until 'gt town resume'")


def resume(town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Let a paused town dispatch and merge again.

    Example: gt town resume
    """
    state = call(Method.TOWN_RESUME, town)
    _say(state, as_json, f"resumed town {state['id']}")


def sync(name: str = typer.Argument(..., help="Rig name."), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Bring merged work parked on gastown/<branch> into your checkout (it must be clean).

    Example: gt rig sync app
    """
    result = call(Method.RIG_SYNC, town, name=name)
    _say(result, as_json, result["message"])


def files(name: str = typer.Argument(..., help="Rig name."),
          path: str = typer.Argument("", help="A directory or file in the repository (default: its root)."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Browse a rig's files at its target branch (a directory lists, a file prints).

    Example: gt rig files app src/arith.py
    """
    res = call(Method.RIG_FILES, town, name=name, path=path)
    if as_json:
        emit_json([res])
    elif res["kind"] == "dir":
        for entry in res["entries"]:
            out.print(entry, markup=False)
    else:
        import sys

        sys.stdout.write(res["text"])
