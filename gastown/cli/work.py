"""`gt sling` and `gt mq list`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, fail, out, show
from gastown.cli.render import emit_json
from gastown.client import actor
from gastown.protocol import Method


def human() -> str:
    """The human slinging work (see `gastown.client.actor`)."""
    return actor()


def sling(
    target: Optional[str] = typer.Argument(None, metavar="TITLE|BEAD_ID",
                                           help="What to do, or the id of an open issue bead."),
    rig: Optional[str] = typer.Option(None, "--rig", help="The rig (repository) the work is for "
                                      "(default: the town's only rig)."),
    body: str = typer.Option("", "--body", help="Longer description for the agent."),
    depends_on: List[str] = typer.Option([], "--depends-on", help="Bead that must close first (repeatable)."),
    agent: Optional[str] = typer.Option(None, "--agent", help="Agent CLI for this bead (default: agent.adapter)."),
    script: List[str] = typer.Option([], "--script", help="Shell step for the scripted agent (repeatable)."),
    priority: int = typer.Option(2, "--priority", "-p", min=0, max=4, help="0 (highest) to 4."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="A TOML or JSON plan: a convoy of beads."),
    staged: bool = typer.Option(False, "--staged", help="With --batch: create it without starting it."),
    persona: Optional[str] = typer.Option(None, "--persona", help="Persona for this bead (gt persona list)."),
    town: TownOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give work to the town: a polecat picks it up as soon as it is ready. With --batch, a
    whole convoy at once (all or nothing); --staged lets you edit it before 'gt convoy start'."""
    if batch is not None:
        if target is not None:
            fail("give either TITLE|BEAD_ID or --batch, not both")
        try:
            plan = batch.read_text()
        except OSError as exc:
            fail(f"cannot read {batch}: {exc.strerror}")
        convoy = call(Method.CONVOY_CREATE, town, plan=plan, staged=staged or None, rig=rig, requested_by=human())
        if as_json:
            emit_json([convoy])
        else:
            state = "staged (start it with 'gt convoy start " + convoy["id"] + "')" if convoy["staged"] else "started"
            out.print(f"convoy {convoy['id']} '{convoy['title']}': {convoy['total']} beads, {state}", markup=False)
            for m in convoy["members"]:
                out.print(f"  {m['id']}  {m['title']}" + (f"  (after {', '.join(m['depends_on'])})"
                                                          if m["depends_on"] else ""), markup=False)
        return
    if target is None:
        fail("sling needs TITLE|BEAD_ID (or --batch FILE)")
    bead = call(Method.SLING, town, title=target, rig=rig, body=body, depends_on=depends_on or None,
                agent=agent, script=script or None, priority=priority, requested_by=human(), persona=persona)
    if as_json:
        emit_json([bead])
    else:
        out.print(f"slung {bead['id']} [{bead['status']}] {bead['title']} -> rig {bead['rig']}", markup=False)
    for warning in bead.get("warnings", []):
        err.print(f"warning: {warning}", markup=False)


mq = typer.Typer(help="The merge queue.", no_args_is_help=True)


@mq.command("list")
def mq_list(status: Optional[str] = typer.Option(
        None, "--status", help="open, in_progress, merged, closed (merged or not), failed."),
            rig: Optional[str] = typer.Option(None, "--rig"), town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List merge requests, in queue order. STATUS says what happened: merged, or closed unmerged."""
    rows = call(Method.MQ_LIST, town, status=status, rig=rig)
    show(rows, as_json, [("id", "MR"), ("outcome", "STATUS"), ("rig", "RIG"), ("source_bead_id", "BEAD"),
                         ("branch", "BRANCH"), ("head_sha", "HEAD"), ("pr_url", "PR")], empty="merge queue is empty")


@mq.command("show")
def mq_show(mr_id: str = typer.Argument(..., metavar="MR", help="Merge request bead id."),
            town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a merge request: branch, head, gates (exit code, duration, output tail), outcome."""
    mr = call(Method.MQ_SHOW, town, id=mr_id)
    if as_json:
        emit_json([mr])
        return
    for key in ("id", "status", "rig", "source_bead_id", "branch", "target_branch", "head_sha", "merge_commit",
                "pr_url", "retry_count", "close_reason"):
        value = mr.get("outcome", mr["status"]) if key == "status" else mr.get(key)  # merged, not just closed
        out.print(f"{key:<15}{value if value is not None else '-'}", markup=False)
    failure = mr.get("failure_reason")
    if failure:
        out.print(f"FAILED: [{failure['code']}] {failure['message']}", markup=False)
    meta = mr.get("metadata") or {}
    if meta.get("forge_error"):
        forge = meta["forge_error"]
        out.print(f"FORGE: [{forge['code']}] {forge['message']} (attempt {meta.get('forge_attempts')}, "
                  f"next at {meta.get('forge_retry_at')})", markup=False)
    if meta.get("pr_state"):
        st = meta["pr_state"]
        out.print(f"pr             checks {st.get('checks')}, approved {st.get('approved')}, mergeable "
                  f"{st.get('mergeable')}" + (f", follow-up {meta['followup']}" if meta.get("followup") else ""),
                  markup=False)
    if mr.get("pr_url") and mr["gates"]:
        out.print("the pull request was opened with these gate results:", markup=False)
    for gate in mr["gates"]:
        verdict = "ok" if gate["exit_code"] == 0 else f"exit {gate['exit_code']}"
        where = f" in {gate['ran_in']}" if gate.get("ran_in") else ""
        out.print(f"gate {gate['name']}: {verdict} in {gate['duration_s']}s{where}  ({gate['cmd']})", markup=False)
        if gate["exit_code"] != 0:
            out.print("  " + gate["output_tail"].strip().replace("\n", "\n  "), markup=False)


@mq.command("retry")
def mq_retry(mr_id: str = typer.Argument(..., metavar="MR", help="A failed merge request."),
             town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Queue a failed merge request's branch again (as a new merge request)."""
    mr = call(Method.MQ_RETRY, town, id=mr_id)
    if as_json:
        emit_json([mr])
    else:
        out.print(f"queued {mr['id']} for {mr['source_bead_id']} ({mr['branch']})", markup=False)
