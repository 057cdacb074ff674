"""`gt bead import` / `gt bead export`: the beads project's issues.jsonl in and out."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, fail, out
from gastown.cli.render import emit_json
from gastown.protocol import Method

INLINE_MAX = 512 << 10


def import_(file: str = typer.Argument(..., metavar="FILE", help="A beads issues.jsonl file, or - for stdin."),
            rig: Optional[str] = typer.Option(None, "--rig", help="The rig the imported beads are for."),
            town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Import a beads issues.jsonl file: ids, dependencies, statuses and labels are kept;
    a bad line names its number and nothing is imported; importing it again changes nothing.

    Example: gt bead import .beads/issues.jsonl --rig app
    """
    if file == "-":
        text = sys.stdin.read()
        if len(text.encode()) <= INLINE_MAX:
            result = call(Method.BEAD_IMPORT, town, text=text, rig=rig)
        else:  # too big for one frame: hand the daemon a private temp file
            import tempfile

            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=True) as tmp:
                tmp.write(text)
                tmp.flush()
                result = call(Method.BEAD_IMPORT, town, path=tmp.name, rig=rig)
    else:
        path = Path(file).expanduser()
        if not path.is_file():
            fail(f"no file {file}", 3)
        result = call(Method.BEAD_IMPORT, town, path=str(path.resolve()), rig=rig)
    if as_json:
        emit_json([result])
        return
    out.print(f"imported {result['total']} issues: {result['created']} new, {result['updated']} updated, "
              f"{result['unchanged']} unchanged", markup=False)
    for theirs, ours in result["mapped"].items():
        out.print(f"  {theirs} is {ours} here (the id was taken); exports give {theirs} back", markup=False)


def export(rig: Optional[str] = typer.Option(None, "--rig", help="Only this rig's beads."),
           town: TownOpt = None) -> None:
    """Print the town's issue beads as beads issues.jsonl lines (to stdout).

    Example: gt bead export --rig app > issues.jsonl
    """
    offset: Optional[int] = 0
    while offset is not None:
        page = call(Method.BEAD_EXPORT, town, rig=rig, offset=offset)
        for line in page["lines"]:
            sys.stdout.write(line + "\n")
        offset = page["next_offset"]


def mcp(town: TownOpt = None) -> None:
    """Serve this town to MCP clients over stdio (Claude Code, Claude Desktop, Cursor,
    opencode…): tools to sling, list, show, update, close and hold beads, see what is ready,
    run convoys and formulas, read agents' logs and the merge queue, and ask the Mayor.

    Example (Claude Code): claude mcp add gastown -- gt mcp --town app-town
    """
    try:
        from gastown import mcp_server
    except ImportError as exc:  # the SDK is a dependency; a broken install says so in one line
        fail(f"the MCP SDK is not importable ({exc}); reinstall gastown", 9)
    mcp_server.serve(town)


imports = typer.Typer(help="Bring work in from other tools.\n\nExample: gt import issues --repo acme/app --label gastown",
                      no_args_is_help=True)


@imports.command("issues")
def import_issues(repo: Optional[str] = typer.Option(None, "--repo", help="OWNER/NAME (default: the rig's forge repo)."),
                  rig: Optional[str] = typer.Option(None, "--rig", help="The rig the work is for (default: the only rig)."),
                  label: List[str] = typer.Option([], "--label", help="Only issues with this label (repeatable)."),
                  watch: bool = typer.Option(False, "--watch", help="Keep polling for new issues until interrupted."),
                  interval: float = typer.Option(60.0, "--interval", min=5.0, help="Seconds between polls with --watch."),
                  town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Each open issue of a GitHub/GitLab/Gitea repository becomes a bead (once), linked back;
    when the bead lands, the issue gets a comment with the merge (forge.close_issues closes it).

    Example: gt import issues --repo acme/app --label gastown --watch
    """
    while True:
        result = call(Method.IMPORT_ISSUES, town, repo=repo, rig=rig, labels=label or None)
        if as_json:
            emit_json([result])
        else:
            out.print(f"{result['id']}: {len(result['created'])} new bead(s) from {result['total']} open issue(s)"
                      + (f": {', '.join(result['created'])}" if result["created"] else ""), markup=False)
        if not watch:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
