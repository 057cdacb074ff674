"""`gt bead archive|unarchive` and `gt convoy add|remove` (members of a staged convoy).

Registered on the `bead` and `convoy` groups by `gastown.cli.app`; each is one call.
"""

from __future__ import annotations

from typing import List

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, out
from gastown.cli.render import emit_json
from gastown.protocol import Method

IdsArg = typer.Argument(..., metavar="ID...", help="Bead ids (a unique prefix is enough).")
ConvoyArg = typer.Argument(..., metavar="CONVOY", help="The staged convoy.")


def archive(bead_ids: List[str] = IdsArg, town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Archive closed or failed beads: they leave the board and default lists (gt bead list --archived).

    All or none: a live bead among them fails the command. Example: gt bead archive gt-abc12 gt-def34
    """
    rows = call(Method.BEAD_ARCHIVE, town, ids=bead_ids)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"archived {r['id']} [{r['status']}] {r['title']} (gt bead unarchive {r['id']} brings it back)",
                  markup=False)


def unarchive(bead_ids: List[str] = IdsArg, town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Bring archived beads back to the board and default lists."""
    rows = call(Method.BEAD_UNARCHIVE, town, ids=bead_ids)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"unarchived {r['id']} [{r['status']}] {r['title']}", markup=False)


def _members(c: dict[str, object], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json([c])
        return
    members = c.get("members") or []
    assert isinstance(members, list)
    out.print(f"{verb}: convoy {c['id']} now has {len(members)} member(s): "
              f"{', '.join(str(m['id']) for m in members) or '(none)'}", markup=False)


def add(convoy_id: str = ConvoyArg, bead_ids: List[str] = IdsArg, town: TownOpt = None,
        as_json: JsonOpt = False) -> None:
    """Add open, unassigned issues to a staged convoy (they dispatch when it starts).

    Example: gt convoy add gt-cv1 gt-abc12
    """
    _members(call(Method.CONVOY_ADD, town, id=convoy_id, beads=bead_ids), as_json, "added")


def remove(convoy_id: str = ConvoyArg, bead_ids: List[str] = IdsArg, town: TownOpt = None,
           as_json: JsonOpt = False) -> None:
    """Take beads out of a staged convoy; they stay as ordinary beads."""
    _members(call(Method.CONVOY_REMOVE, town, id=convoy_id, beads=bead_ids), as_json, "removed")
