"""The merge-queue steps the alarm loop runs for one merge request, off the loop's tick:
merge directly (through the refinery recipe) or gate, open and follow a pull request
(`pullrequests`), with the
optional review agent's verdict gating the merge. Outcomes land in the store in one
transaction each."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown import persona
from gastown.daemon.town import agentenv
from gastown.daemon.store import integration
from gastown.daemon.alarm import library, pullrequests, turns
from gastown.daemon.rules import reconciler
from gastown.daemon.runtime import Runtime, hostgates
from gastown.daemon.vcs.gates import GateRunner
from gastown.daemon.vcs import refinery
from gastown.daemon.town.crashpoints import crash_point
from gastown.model import FailureCode

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.mergequeue")
MAX_REQUEUES = 5  # "not the branch's fault" retries (the target moved) before it counts as a failure


def gate_runner(town: "Town", runtime: Runtime | None, rig: str) -> tuple[GateRunner, Path | None]:
    """Where a rig's gates run (and a molecule's run steps, which are gates too): the town
    container, in a worktree under the town directory it mounts; else the host, inside the
    agents' sandbox (`sandbox` setting) with the allow-listed environment plus `agent.env`."""
    in_container = runtime.gate_runner() if runtime is not None else None
    if in_container is not None:
        return in_container, town.root / "merges"
    return hostgates.host_gates(agentenv.spec_of(town.items("agent.env", rig)), town.text("sandbox")), None


async def refinery_step(town: "Town", mr: dict[str, Any], rig: dict[str, Any], starter: turns.TurnStarter) -> None:
    """Merge (direct), or push and poll (pr); record the outcome in one transaction."""
    store = town.store
    strategy = town.text("refinery.strategy", rig["name"])
    branch, target = mr["branch"], mr["target_branch"]
    if target.startswith(integration.PREFIX):  # a convoy member: straight into its integration branch
        strategy = "direct"
        await asyncio.to_thread(refinery.ensure_branch, rig["repo_path"], target, f"origin/{rig['default_branch']}")
    if strategy == "pr":
        if mr["pr_url"]:
            await pullrequests.poll_step(town, mr, rig)
        else:
            await pullrequests.open_step(town, mr, rig, starter)
        return
    if town.flag("refinery.code_review", rig["name"]) and not await review_gate(town, mr, rig, starter):
        return
    gates = refinery.parse_gates(town.items("refinery.gates", rig["name"]))
    human = turns.human_identity(mr["requested_by"])
    runner, workdir = gate_runner(town, starter.runtime, rig["name"])
    result = await asyncio.to_thread(
        refinery.process, rig["repo_path"], rig["source"], branch, target,
        mode=town.text("refinery.merge_mode", rig["name"]), gates=gates,
        identity={"name": human[0], "email": human[1]}, expect_head=mr["head_sha"],
        gate_runner=runner, workdir=workdir)
    if result.ok and result.merge_commit and result.landed_on:
        convoy = bool((await town.call(store.bead_row, mr["source_bead_id"]))["metadata"].get("convoy"))
        if convoy:
            crash_point("convoy.before_land")
        await town.call(store.mr_merged, mr["id"], merge_commit=result.merge_commit, landed_on=result.landed_on,
                        gates=result.gates, message=result.message)
        if convoy:
            crash_point("convoy.landed")
        await asyncio.to_thread(refinery.retire_branch, rig["repo_path"], branch,
                                remote=branch.startswith(integration.PREFIX))
    elif result.retry and mr["retry_count"] < MAX_REQUEUES:
        await town.call(store.mr_requeue, mr["id"], result.message)
    else:
        await town.call(store.mr_failed, mr["id"], result.failure(), gates=result.gates,
                        max_retries=town.whole("refinery.max_retries", rig["name"]))


REVIEW_ATTEMPTS = 2


async def review_gate(town: "Town", mr: dict[str, Any], rig: dict[str, Any], starter: turns.TurnStarter) -> bool:
    """With refinery.code_review on, a refinery agent's verdict gates the merge. True when
    approved; otherwise it starts the review, waits for it, or fails the MR with the
    reviewer's words (the polecat reworks with them)."""
    store = town.store
    review = mr["metadata"].get("review") or {}
    state = review.get("state")
    if state == "approved":
        return True
    if state == "pending":
        return False
    max_retries = town.whole("refinery.max_retries", rig["name"])
    if state == "changes_requested":
        await town.call(store.mr_failed, mr["id"], {"code": FailureCode.CHANGES_REQUESTED, "message": review.get("why") or
                        "the reviewer requested changes", "source": "refinery-review"}, gates=[],
                        max_retries=max_retries)
        return False
    missing = sum(r.get("state") == "missing" for r in mr["metadata"].get("reviews", []))
    if missing >= REVIEW_ATTEMPTS:
        await town.call(store.mr_failed, mr["id"], {"code": FailureCode.REVIEW_FAILED, "message": f"the review agent gave no "
                        f"verdict in {missing} turns", "source": "refinery-review"}, gates=[],
                        max_retries=max_retries)
        return False
    reviewer = (await asyncio.to_thread(library.personas, town, rig)).get(persona.REVIEWER)
    adapter = (reviewer.adapter if reviewer else "") or town.text("agent.adapter", rig["name"])
    agent = await town.call(store.review_agent, rig["name"], adapter)
    if agent["adapter"] != adapter:  # the reviewer persona moved to another agent CLI
        await town.call(store.agent_set_adapter, agent["name"], adapter)
    if reconciler.effective_status(agent) != "idle" or agent["hook_bead_id"]:
        return False  # the reviewer is still busy with its previous turn
    name = agent["name"]
    starter.starting.add(name)  # until its turn is recorded: not a stranded `starting` agent
    try:
        await _start_review(town, mr, rig, starter, name, reviewer)
    finally:
        starter.starting.discard(name)
    return False


async def _start_review(town: "Town", mr: dict[str, Any], rig: dict[str, Any], starter: turns.TurnStarter,
                        name: str, reviewer: Any) -> None:
    store = town.store
    agent = await town.call(store.review_begin, mr["id"], name)
    source = await town.call(store.bead_row, mr["source_bead_id"])
    try:
        if reviewer:  # its model, instructions and turn limit ride on the MR for this turn only
            mr = {**mr, "metadata": {**mr["metadata"], **library.snapshot(reviewer)}}
        started = await asyncio.to_thread(starter.start_review, agent, mr, source, rig)
        await town.call(store.turn_started, agent["name"], **started)
    except Exception as exc:
        log.warning("starting the review of %s failed: %s", mr["id"], exc)
        await town.call(store.dispatch_failed, agent["name"], turns.failure_from(exc))
