"""The witness's I/O half: builds the patrol snapshot, applies patrol actions, notifies the
human of high escalations and sweeps orphaned worktrees and branches. The rules
themselves are pure functions in `patrol.py`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.daemon.vcs import git, refinery, riglock
from gastown.daemon.rules import patrol
from gastown.daemon.rules.patrol import (
    Gupp, NudgeTurn, PatrolAction, PatrolAgent, PatrolEscalation, PatrolSettings, PatrolSnapshot, Quarantine,
    Reescalate, ReportStranded, StopZombie, TripBreaker,
)
from gastown.model import FailureCode

if TYPE_CHECKING:
    from gastown.daemon.alarm.loop import TownLoop
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.witness")
SWEEP_S = 600.0


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def settings(town: "Town") -> PatrolSettings:
    return PatrolSettings(
        gupp_s=town.number("patrol.gupp_minutes") * 60, crash_loop=town.whole("patrol.crash_loop_restarts"),
        breaker_failures=town.whole("patrol.breaker_failures"),
        breaker_s=town.number("patrol.breaker_minutes") * 60,
        stranded_s=town.number("patrol.stranded_minutes") * 60,
        reescalate_s=town.number("escalation.reescalate_hours") * 3600)


def _progress(agent: dict[str, Any]) -> datetime | None:
    """The latest sign of life: the turn's start, a tool call, or new output."""
    marks: list[datetime | None] = [_dt(agent["turn_started_at"]), _dt(agent["last_activity_at"]),
                                    _dt(agent["status_at"])]
    if agent["turn_dir"]:
        try:
            mtime = (Path(agent["turn_dir"]) / "output.log").stat().st_mtime
            marks.append(datetime.fromtimestamp(mtime, timezone.utc))
        except FileNotFoundError:
            pass
    known = [m for m in marks if m is not None]
    return max(known) if known else None


def build(town: "Town", stranded: list[tuple[str, datetime]]) -> PatrolSnapshot:
    """Runs on the town's writer thread."""
    store = town.store
    agents = []
    nudges: dict[str, list[str]] = {}
    for n in store.pending_nudges():
        nudges.setdefault(n["agent"], []).append(n["mode"])
    for a in store.agent_list():
        hook_status = store.bead_row(a["hook_bead_id"])["status"] if a["hook_bead_id"] else None
        state = store.patrol_get(f"gupp:{a['name']}") or {}
        agents.append(PatrolAgent(
            name=a["name"], role=a["role"], status=a["status"], hook=a["hook_bead_id"], hook_status=hook_status,
            turn_running=bool(a["turn_dir"] and not a["turn_ended_at"]), progress_at=_progress(a),
            restarts=tuple(a["restarts"]), gupp_level=int(state.get("level", 0)), gupp_since=state.get("since"),
            deferred_until=_dt(state.get("deferred_until")),
            has_worktree=bool(a["worktree"] and Path(a["worktree"]).exists()), nudges=tuple(nudges.get(a["name"], []))))
    escalations = tuple(
        PatrolEscalation(id=e["id"], severity=e["severity"], count=e["reescalation_count"],
                         routed_at=_dt(e["last_routed_at"]) or _dt(e["created_at"]) or datetime.now(timezone.utc))
        for e in store.escalation_list())
    breaker = store.patrol_get("breaker") or {}
    reported = {bead: _dt(store.patrol_get(f"stranded:{bead}")) for bead, _ in stranded}
    return PatrolSnapshot(agents=tuple(agents), escalations=escalations, breaker_until=_dt(breaker.get("until")),
                          stranded=tuple(stranded),
                          stranded_reported={k: v for k, v in reported.items() if v is not None},
                          settings=settings(town))


async def apply(loop: "TownLoop", action: PatrolAction) -> None:
    town, store = loop.town, loop.town.store
    log.info("patrol: %s", patrol.describe(action))
    if isinstance(action, Quarantine):
        await town.call(store.agent_quarantine, action.agent, action.restarts)
    elif isinstance(action, Gupp):
        await gupp_step(loop, action)
    elif isinstance(action, StopZombie):
        agent = await town.call(store.agent_get, action.agent)
        if agent["turn_dir"] and not agent["turn_ended_at"]:
            await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]), 5.0)
        await town.call(store.zombie_clear, action.agent, action.reason)
    elif isinstance(action, TripBreaker):
        await town.call(store.patrol_set, "breaker", {"until": action.until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                                      "failures": action.failures})
        await town.call(store.escalation_create, f"dispatch breaker tripped: {action.failures} failed dispatches; "
                        f"no new work starts until {action.until:%H:%M} UTC", severity="critical", source="patrol",
                        category="breaker")
    elif isinstance(action, ReportStranded):
        await town.call(store.report_stranded, list(action.bead_ids))
    elif isinstance(action, Reescalate):
        await town.call(store.reescalate, action.escalation)
    elif isinstance(action, NudgeTurn):
        await loop.nudge_turn(action.agent)


async def gupp_step(loop: "TownLoop", action: Gupp) -> None:
    """Nudge, then escalate, then reset: one step per call, the level stored."""
    town, store = loop.town, loop.town.store
    minutes = action.idle_s / 60
    if action.level == 1:
        await town.call(store.nudge, action.agent, f"No progress for {minutes:.0f} minutes: continue the work on "
                        "your hook now, or `gt escalate` if you are stuck.", mode="queue", source="patrol:gupp")
    elif action.level == 2:
        agent = await town.call(store.agent_get, action.agent)
        if town.flag("patrol.triage_agent") and await loop.start_triage(agent, minutes):
            await town.call(store.patrol_set, f"gupp:{action.agent}", {"level": 2, "since": action.since})
            return
        await town.call(store.escalation_create, f"agent {action.agent} has made no progress on {agent['hook_bead_id']} "
                        f"for {minutes:.0f} minutes", severity="medium", source="patrol:gupp",
                        bead_id=agent["hook_bead_id"], category="gupp")
    else:
        agent = await town.call(store.agent_get, action.agent)
        if agent["turn_dir"] and not agent["turn_ended_at"]:
            await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]), 5.0)
        await town.call(store.agent_reset, action.agent, actor="patrol", failure={
            "code": FailureCode.GUPP_RESET, "message": f"no progress for {minutes:.0f} minutes: the agent was reset",
            "source": "patrol", "details": {"agent": action.agent}})
    await town.call(store.patrol_set, f"gupp:{action.agent}", {"level": action.level, "since": action.since})


NOTIFY_PASS = ("HOME", "USER", "LOGNAME", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")


def notify_human(town: "Town", escalations: list[dict[str, Any]]) -> None:
    """High and critical escalations reach the human: notify-send where present and the
    configured `notify.command` (with the escalation in its environment)."""
    command = town.text("notify.command")
    sender = shutil.which("notify-send")
    for esc in escalations:
        title = f"gastown {town.name}: {esc['severity']} escalation {esc['id']}"
        if sender and (os.environ.get("DISPLAY") or os.environ.get("DBUS_SESSION_BUS_ADDRESS")):
            subprocess.run([sender, title, esc["title"]], capture_output=True, timeout=10)
        if command:
            # the human's own command, but still not the daemon's whole environment: the
            # allow-list, what a desktop notifier needs, and agent.env
            from gastown.daemon.town import agentenv

            desktop = {k: os.environ[k] for k in NOTIFY_PASS if k in os.environ}
            env = agentenv.build({**desktop, "GT_TOWN": town.name, "GT_ESCALATION_ID": esc["id"],
                                  "GT_SEVERITY": esc["severity"], "GT_MESSAGE": esc["body"] or esc["title"]},
                                 agentenv.spec_of(town.items("agent.env")))
            try:
                subprocess.run(command, shell=True, env=env, capture_output=True, timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("notify.command timed out for %s", esc["id"])


def sweep(town: "Town", agents: list[dict[str, Any]], rigs: list[dict[str, Any]]) -> list[str]:
    """Remove worktrees of agents that no longer exist and left merge worktrees, only when
    git says nothing would be lost; prune stale metadata. Returns what it removed."""
    removed: list[str] = []
    known = {a["worktree"] for a in agents if a["worktree"]}
    for rig in rigs:
        repo, base = rig["repo_path"], f"origin/{rig['default_branch']}"
        with riglock.rig_git(repo):  # worktree removal and prune write the clone's shared metadata
            removed += _sweep_rig(town, repo, base, known)
    return removed


def _sweep_rig(town: "Town", repo: str, base: str, known: set[str]) -> list[str]:
    removed: list[str] = []
    try:
        trees = git.list_worktrees(repo)
    except git.GitError:
        return removed
    for wt in trees:
        if wt.bare or str(wt.path) in known or not wt.path.exists() or riglock.leased(wt.path):
            continue  # a leased tree is a running merge's or step's (gastown.daemon.vcs.riglock)
        if not _ours(town, wt.path):
            continue  # never touch a worktree gastown did not make
        try:
            if git.worktree_state(wt.path, base).safe_to_remove:
                git.remove_worktree(repo, wt.path, base)
                removed.append(str(wt.path))
                if wt.path.parent.name.startswith(refinery.STEP_PREFIX):
                    shutil.rmtree(wt.path.parent, ignore_errors=True)  # a step's temp dir holds only its tree
        except git.GitError as exc:
            log.info("sweep kept %s: %s", wt.path, exc)
    git.run(["worktree", "prune"], repo, ok=(0, 128))
    return removed


def _ours(town: "Town", path: Path) -> bool:
    """A worktree gastown made: under the town's directory, or a merge's or step's in the temp dir."""
    if path.is_relative_to(town.root):
        return True
    tmp = Path(os.path.realpath(tempfile.gettempdir()))
    return (path.parent == tmp and path.name.startswith(refinery.MERGE_PREFIX)) or \
        (path.parent.parent == tmp and path.parent.name.startswith(refinery.STEP_PREFIX))
