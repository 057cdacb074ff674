"""`gt convoy list|show|start|close`."""

from __future__ import annotations

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.model import BeadStatus, values
from gastown.protocol import Method

app = typer.Typer(help="Batches of beads that move and land together.", no_args_is_help=True)


def _progress(c: dict[str, object]) -> str:
    p = c["progress"]
    assert isinstance(p, dict)
    return " / ".join(f"{p[k]} {k.replace('_', ' ')}" for k in values(BeadStatus))


@app.command("list")
def list_(town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List convoys with their progress (open / in progress / in review / closed / failed)."""
    rows = call(Method.CONVOY_LIST, town)
    for r in rows:
        r["progress_text"] = _progress(r)
        r["state"] = "staged" if r["staged"] else ("landed" if r["landed_at"] else r["status"])
    if as_json:
        emit_json([{k: v for k, v in r.items() if k not in ("progress_text", "state", "members")} for r in rows])
        return
    show_rows(rows, False, [("id", "CONVOY"), ("state", "STATE"), ("total", "BEADS"), ("progress_text", "PROGRESS"),
                            ("title", "TITLE")], empty="no convoys")


@app.command()
def show(convoy_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a convoy: its members, their dependencies and statuses."""
    c = call(Method.CONVOY_SHOW, town, id=convoy_id)
    if as_json:
        emit_json([c])
        return
    state = "staged" if c["staged"] else ("landed " + c["landed_at"] if c["landed_at"] else c["status"])
    out.print(f"{c['id']}  {c['title']}  [{state}]", markup=False)
    out.print(f"  {_progress(c)}", markup=False)
    for m in c["members"]:
        after = f"  after {', '.join(m['depends_on'])}" if m["depends_on"] else ""
        out.print(f"  {m['id']}  {m['status']:<11} {m['assignee'] or '':<8} {m['title']}{after}", markup=False)


@app.command()
def start(convoy_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None) -> None:
    """Start a staged convoy: its ready beads are dispatched."""
    c = call(Method.CONVOY_START, town, id=convoy_id)
    out.print(f"started convoy {c['id']} ({c['total']} beads)", markup=False)


@app.command()
def close(convoy_id: str = typer.Argument(..., metavar="ID"),
          reason: str = typer.Option("closed by hand", "--reason", help="Why."),
          town: TownOpt = None) -> None:
    """Force-close a convoy: unfinished members close and their agents stop."""
    c = call(Method.CONVOY_CLOSE, town, id=convoy_id, reason=reason)
    out.print(f"closed convoy {c['id']}: {_progress(c)}", markup=False)


from gastown.cli import changes  # noqa: E402

app.command("diff")(changes.convoy_diff)
