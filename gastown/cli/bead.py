"""`gt bead create|list|show|update|close|reopen|events`, `gt bead dep add|remove`, `gt ready`."""

from __future__ import annotations

import json
import sys
from typing import Any, List, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, fail, out, show as show_rows
from gastown.cli.render import bead_text, emit_json
from gastown.protocol import Method

app = typer.Typer(help="Create, inspect and change beads (work items).", no_args_is_help=True)
dep = typer.Typer(help="Add and remove dependencies between beads.", no_args_is_help=True)
app.add_typer(dep, name="dep")

COLUMNS = [("id", "ID"), ("status", "STATUS"), ("priority", "P"), ("type", "TYPE"), ("rig", "RIG"),
           ("assignee", "ASSIGNEE"), ("title", "TITLE")]


def _priority(value: Optional[str]) -> Optional[int]:
    """Accept 0-4 and P0-P4."""
    if value is None:
        return None
    raw = value.upper().removeprefix("P")
    if not raw.isdigit() or not 0 <= int(raw) <= 4:
        fail(f"priority must be 0-4 (or P0-P4), not '{value}'")
    return int(raw)


def _metadata(pairs: List[str]) -> Optional[dict[str, Any]]:
    if not pairs:
        return None
    meta: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--meta takes KEY=VALUE, not '{pair}'")
        try:
            meta[key] = json.loads(raw)
        except ValueError:
            meta[key] = raw
    return meta


def _emit_one(bead: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json([bead])
    else:
        out.print(f"{verb} {bead['id']} [{bead['status']}] {bead['title']}", markup=False)


@app.command()
def create(
    title: str = typer.Argument(..., help="What needs doing (1-500 characters)."),
    rig: Optional[str] = typer.Option(None, "--rig", help="Rig the work belongs to."),
    body: str = typer.Option("", "--body", help="Longer description ('-' reads stdin)."),
    type_: str = typer.Option("issue", "--type", help="issue, message, merge_request, convoy, escalation, molecule, agent."),
    priority: Optional[str] = typer.Option(None, "--priority", "-p", help="0 (highest) to 4; default 2."),
    label: List[str] = typer.Option([], "--label", "-l", help="Label (repeatable)."),
    parent: Optional[str] = typer.Option(None, "--parent", help="Epic this bead belongs to."),
    depends_on: List[str] = typer.Option([], "--depends-on", help="Bead that must close first (repeatable)."),
    meta: List[str] = typer.Option([], "--meta", help="Metadata KEY=VALUE (JSON values allowed; repeatable)."),
    town: TownOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a bead."""
    if body == "-":
        body = sys.stdin.read()
    bead = call(Method.BEAD_CREATE, town, title=title, rig=rig, body=body, type=type_,
                priority=_priority(priority), labels=label or None, parent=parent,
                depends_on=depends_on or None, metadata=_metadata(meta))
    _emit_one(bead, as_json, "created")


@app.command("list")
def list_(
    status: Optional[str] = typer.Option(None, "--status", help="open, in_progress, in_review, closed, failed."),
    type_: Optional[str] = typer.Option(None, "--type", help="Bead type."),
    rig: Optional[str] = typer.Option(None, "--rig", help="Only this rig."),
    label: Optional[str] = typer.Option(None, "--label", help="Only beads with this label."),
    parent: Optional[str] = typer.Option(None, "--parent", help="Only children of this epic."),
    limit: int = typer.Option(200, "--limit", help="At most this many (0: all)."),
    archived: bool = typer.Option(False, "--archived", help="List archived beads instead of live ones."),
    all_: bool = typer.Option(False, "--all", help="Every type: also merge requests, messages, agents, convoys, "
                                                   "escalations (default: issues only)."),
    town: TownOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List beads, oldest first: the issues, unless --type or --all says otherwise (archived
    beads only with --archived).

    Example: gt bead list --status open --rig app
    """
    if type_ is None and not all_:
        type_ = "issue"
    rows = call(Method.BEAD_LIST, town, status=status, type=type_, rig=rig, label=label, parent=parent, limit=limit,
                **({"archived": True} if archived else {}))
    show_rows(rows, as_json, COLUMNS, empty="no beads")


@app.command()
def show(bead_id: str = typer.Argument(..., metavar="ID", help="Bead id (a unique prefix is enough)."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show one bead with its dependencies, dependents and failure reason."""
    bead = call(Method.BEAD_SHOW, town, id=bead_id)
    if as_json:
        emit_json([bead])
    else:
        sys.stdout.write(bead_text(bead))


@app.command()
def events(bead_id: str = typer.Argument(..., metavar="ID", help="Bead id."),
           town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a bead's audit log."""
    rows = call(Method.BEAD_EVENTS, town, id=bead_id)
    if as_json:
        emit_json([{"id": r["seq"], **r} for r in rows])
        return
    for r in rows:
        change = f"{r['old_value'] or ''} -> {r['new_value'] or ''}" if r["old_value"] or r["new_value"] else ""
        extra = json.dumps(r["metadata"]) if r["metadata"] else ""
        out.print(f"{r['seq']:>6}  {r['created_at']}  {r['event_type']:<18} {r['actor'] or '':<10} {change} {extra}",
                  markup=False)


@app.command("log")
def log_(bead_id: str = typer.Argument(..., metavar="ID", help="Bead id."), town: TownOpt = None,
         as_json: JsonOpt = False) -> None:
    """Every agent turn on the bead, oldest first (across agents, reworks and reviews): what
    each agent ran and said, and how each turn ended."""
    from gastown.cli.transcript import show_bead
    raise typer.Exit(show_bead(bead_id, town=town, as_json=as_json))


@app.command()
def update(
    bead_id: str = typer.Argument(..., metavar="ID", help="Bead id."),
    title: Optional[str] = typer.Option(None, "--title"),
    body: Optional[str] = typer.Option(None, "--body", help="New description ('-' reads stdin)."),
    priority: Optional[str] = typer.Option(None, "--priority", "-p"),
    rig: Optional[str] = typer.Option(None, "--rig"),
    status: Optional[str] = typer.Option(None, "--status", help="open, in_progress, in_review (closed/failed are terminal)."),
    add_label: List[str] = typer.Option([], "--add-label"),
    remove_label: List[str] = typer.Option([], "--remove-label"),
    meta: List[str] = typer.Option([], "--meta", help="Set metadata KEY=VALUE (null removes)."),
    town: TownOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a bead's fields or (non-terminal) status."""
    if body == "-":
        body = sys.stdin.read()
    bead = call(Method.BEAD_UPDATE, town, id=bead_id, title=title, body=body, priority=_priority(priority),
                rig=rig, status=status, add_labels=add_label or None, remove_labels=remove_label or None,
                metadata=_metadata(meta))
    _emit_one(bead, as_json, "updated")


@app.command()
def close(bead_id: str = typer.Argument(..., metavar="ID"),
          reason: Optional[str] = typer.Option(None, "--reason", help="Why it is closed."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Close a bead (terminal: only an explicit reopen brings it back)."""
    _emit_one(call(Method.BEAD_CLOSE, town, id=bead_id, reason=reason), as_json, "closed")


@app.command()
def reopen(bead_id: str = typer.Argument(..., metavar="ID"),
           reason: str = typer.Option(..., "--reason", help="Why it is reopened (required)."),
           town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Reopen a closed or failed bead, with a reason."""
    _emit_one(call(Method.BEAD_REOPEN, town, id=bead_id, reason=reason), as_json, "reopened")


@dep.command("add")
def dep_add(bead_id: str = typer.Argument(..., metavar="ID", help="The bead that waits."),
            depends_on: str = typer.Argument(..., metavar="DEPENDS_ON", help="The bead it waits for."),
            type_: str = typer.Option("blocks", "--type", help="blocks, parent-child or tracks."),
            town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Make ID depend on DEPENDS_ON (refused if it would close a cycle)."""
    bead = call(Method.DEP_ADD, town, id=bead_id, depends_on=depends_on, type=type_)
    if as_json:
        emit_json([bead])
    else:
        out.print(f"{bead['id']} now depends on {depends_on} ({type_})", markup=False)


@dep.command("remove")
def dep_remove(bead_id: str = typer.Argument(..., metavar="ID"),
               depends_on: str = typer.Argument(..., metavar="DEPENDS_ON"),
               town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Remove the dependency of ID on DEPENDS_ON."""
    bead = call(Method.DEP_REMOVE, town, id=bead_id, depends_on=depends_on)
    if as_json:
        emit_json([bead])
    else:
        out.print(f"{bead['id']} no longer depends on {depends_on}", markup=False)


def ready(rig: Optional[str] = typer.Option(None, "--rig", help="Only this rig."),
          explain: bool = typer.Option(False, "--explain", help="List the blocked beads and why instead."),
          limit: int = typer.Option(100, "--limit", help="At most this many (0: all)."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List open issues that can start now (every blocker closed), highest priority first."""
    rows = call(Method.READY, town, rig=rig, limit=limit, explain=explain or None)
    if not explain:
        show_rows(rows, as_json, COLUMNS, empty="nothing ready")
        return
    if as_json:
        emit_json(rows)
        return
    if not rows:
        err.print("(nothing blocked)")
    for row in rows:
        out.print(f"{row['id']}  {row['title']}", markup=False)
        for why in row["blocked_by"]:
            out.print(f"    {why['message']}", markup=False)


@app.command()
def approve(bead_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Approve a molecule's approval step: it closes and the steps after it go on."""
    bead = call(Method.BEAD_APPROVE, town, id=bead_id)
    if as_json:
        emit_json([bead])
    else:
        out.print(f"approved {bead['id']}: {bead['title']}", markup=False)


from gastown.cli import changes  # noqa: E402

app.command("commits")(changes.commits)
app.command("diff")(changes.diff)
