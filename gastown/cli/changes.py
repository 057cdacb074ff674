"""`gt bead commits|diff` and `gt convoy diff`: what the work changed, in git terms."""

from __future__ import annotations

import sys
from typing import Any

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, fail, out
from gastown.cli.render import emit_json
from gastown.protocol import ErrorCode, Method

StatOpt = typer.Option(False, "--stat", help="Only the diffstat, not the diff.")


def _available(res: dict[str, Any]) -> dict[str, Any]:
    if not res.get("available"):
        fail(f"{res['id']}: {res.get('reason') or 'no diff'}", ErrorCode.NOT_FOUND)
    return res


def _where(res: dict[str, Any]) -> str:
    if res.get("state") == "merged":
        return f"landed in {str(res.get('merge_commit') or '')[:12]} (against its first parent)"
    return f"{res.get('branch')} against {res.get('base')} (in progress)"


def commits(bead_id: str = typer.Argument(..., metavar="ID", help="Bead id."), town: TownOpt = None,
            as_json: JsonOpt = False) -> None:
    """The bead's commits: sha, subject, author and committer (the branch while in
    progress, what landed once merged)."""
    res = _available(call(Method.BEAD_DIFF, town, id=bead_id, text=False))
    if as_json:
        emit_json(res["commits"])
        return
    err.print(f"{res['id']}: {len(res['commits'])} commit(s), {_where(res)}", markup=False)
    for c in res["commits"]:
        out.print(f"{c['sha'][:12]}  {c['subject']}", markup=False)
        out.print(f"              author {c['author']} · committer {c['committer']}", markup=False)


def diff(bead_id: str = typer.Argument(..., metavar="ID", help="Bead id."), stat: bool = StatOpt,
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """The bead's diff: its branch against its base while in progress, the merge against
    its first parent after it landed."""
    res = _available(call(Method.BEAD_DIFF, town, id=bead_id, text=not stat, max_bytes=500_000))
    if as_json:
        emit_json([res])
        return
    err.print(f"{res['id']}: {len(res['commits'])} commit(s), {_where(res)}", markup=False)
    sys.stdout.write(res["stat"] if stat else res["diff"])
    if res.get("truncated"):
        err.print("(diff truncated at 500 kB)")


def convoy_diff(convoy_id: str = typer.Argument(..., metavar="ID", help="Convoy id."), stat: bool = StatOpt,
                town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """What a convoy changed: each member's diffstat and the sums."""
    res = call(Method.CONVOY_DIFF, town, id=convoy_id)
    if as_json:
        emit_json([res])
        return
    for m in res["members"]:
        if not m.get("available"):
            out.print(f"{m['id']}  [{m['status']}]  {m['title']}: {m.get('reason')}", markup=False)
            continue
        out.print(f"{m['id']}  [{m['status']}]  {m['title']}: {len(m['commits'])} commit(s), {m['files']} file(s), "
                  f"+{m['insertions']} -{m['deletions']}", markup=False)
        if stat:
            sys.stdout.write("".join(f"    {ln}\n" for ln in m["stat"].splitlines()))
    out.print(f"total: {res['commits']} commit(s), {res['files']} file(s) changed, +{res['insertions']} "
              f"-{res['deletions']}", markup=False)
