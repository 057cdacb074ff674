"""The per-town alarm loop: observe -> drain inbox -> reconcile -> apply -> invariants.

Ticks about every second while work is active, every loop.idle_seconds (30) when idle, and
at once when woken (a sling, a `gt done`). A failing side effect becomes an event and state the next
tick repairs; it never kills the loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from gastown import persona, runner
from gastown import transcript as tr
from gastown.daemon.store import archive
from gastown.daemon.alarm import mayornotice, resolve
from gastown.daemon import adapters
from gastown.daemon.store import holds, turnlog
from gastown.daemon.alarm import alerts, issuesync, library, mergequeue, prompts, spending, steps, transcripts, turns, witness
from gastown.daemon.rules import budgets, patrol, reconciler
from gastown.daemon.vcs import refinery
from gastown.daemon.town import config
from gastown.daemon.town.crashpoints import crash_point
from gastown.daemon.rules.reconciler import (
    AgentSnap, CloseMR, Dispatch, FailBead, MRSnap, PollPR, ProcessMR, ReadyBead, RigSnap, Snapshot,
)
from gastown.daemon.runtime import Runtime, make_runtime
from gastown.model import EventType, FailureCode

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.loop")


class Subscribers(Protocol):
    """Who hears about the loop's writes (the edge's event hub): the loop pokes, never imports it."""
    def poke(self, town: "Town") -> None: ...

ACTIVE_S = 1.0
MIN_IDLE_S = 0.2  # the floor of loop.idle_seconds: an idle loop never spins
SAID_S = 5.0  # how often a running agent's status is read from its output


def _dt(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) if value else None


def build_snapshot(town: "Town", merging: frozenset[str] = frozenset(),
                   exhausted: frozenset[tuple[str, str]] = frozenset(), dispatch_stopped: bool = False,
                   looked_at: dict[str, datetime] | None = None) -> Snapshot:
    """Read what the reconciler needs (runs on the town's writer thread)."""
    store = town.store
    ready = []
    scopes = []
    for b in store.ready(limit=500):
        if not b["rig"]:
            continue
        scopes.append(budgets.BeadScopes(b["id"], b["rig"], b["metadata"].get("convoy"), b["requested_by"]))
        ready.append(ReadyBead(id=b["id"], rig=b["rig"], priority=b["priority"], attempts=b["dispatch_attempts"],
                               last_dispatch_at=_dt(b["last_dispatch_at"]), adapter=b["metadata"].get("agent"),
                               since=_dt(b["updated_at"]), predecessors=_predecessors(store, b),
                               prefer=b["metadata"].get("polecat") if b["metadata"].get("followup") else None))
    agents = tuple(
        AgentSnap(name=a["name"], role=a["role"], rig=a["rig"], hook=a["hook_bead_id"],
                  last_bead_id=a["last_bead_id"], status=reconciler.effective_status(a))
        for a in store.agent_list())
    rigs = {}
    for r in store.rig_list():
        rigs[r["name"]] = RigSnap(
            name=r["name"], max_polecats=town.whole("rig.max_polecats", r["name"]),
            max_attempts=town.whole("dispatch.max_attempts", r["name"]),
            adapter=town.text("agent.adapter", r["name"]),
            backoff_scale=town.number("dispatch.backoff_scale", r["name"]),
            parked=store.patrol_get(holds.parked_key(r["name"])) is not None)
    mrs = tuple(
        MRSnap(id=m["bead_id"], rig=m["rig"], target=m["target_branch"], status=m["status"], priority=m["priority"],
               created_at=m["created_at"], source_status=m["source_status"], pr=bool(m["pr_url"]),
               not_before=_dt(m["retry_at"]), looked_at=(looked_at or {}).get(m["bead_id"]))
        for m in store.merge_requests(active=True))
    return Snapshot(ready=tuple(ready), agents=agents, rigs=rigs, mrs=mrs, merging=merging,
                    paused=store.patrol_get(holds.PAUSED_KEY) is not None,
                    budget_held=budgets.blocked(scopes, set(exhausted)), dispatch_stopped=dispatch_stopped,
                    pr_poll_s=town.number("refinery.pr_poll_seconds"))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _older_than(stamp: str | None, seconds: float, now: datetime) -> bool:
    when = _dt(stamp)
    return when is None or (now - when).total_seconds() > seconds


def _predecessors(store: Any, bead: dict[str, Any]) -> tuple[str, ...]:
    """Closed blockers of a convoy member that belong to the same convoy."""
    return tuple(store.convoy_predecessors(bead))


class TownLoop:
    def __init__(self, town: "Town", hub: Subscribers, runtime: Runtime | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.town = town
        self.clock = clock  # the scheduling rules' `now` (tests pass a fixed, advanceable one)
        self.opened = town.store.now()  # agents `starting` since before this are a dead daemon's
        self.hub = hub
        self.runtime_name = town.text("runtime")
        self.runtime = runtime or make_runtime(self.runtime_name, town.root)
        self.idle_since: float | None = None
        self.asleep = False
        self.starter = turns.TurnStarter(town, self.runtime)
        self._wake = asyncio.Event()
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        self.active = True
        self.ticks = 0  # ticks started
        self.ticks_done = 0  # ticks finished, failed ones too (town.show: tests wait on it instead of sleeping)
        self.budgets = spending.Spending()
        self.issue_retry: dict[str, float] = {}
        self.said_at: dict[str, float] = {}  # when each running agent's status was last read from output
        self.reported: set[str] = set()
        self.merging: set[str] = set()
        self.steps_running: set[str] = set()  # molecule run steps being executed now
        self.tasks: set[asyncio.Task[None]] = set()
        self.looked_at: dict[str, datetime] = {}  # merge request -> when this daemon last took it up
        self.last_sweep = 0.0
        self.stranded: list[tuple[str, datetime]] = []
        self.dispatching: set[str] = self.starter.starting  # agents this daemon is starting a turn for right now
        self.dispatch_pending: dict[str, str | None] = {}  # bead -> chosen agent of dispatches under way

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"loop-{self.town.name}")

    async def stop(self) -> None:
        self.stopping = True  # the loop also checks this: a cancellation can be swallowed (below)
        self.starter.pool.shutdown(wait=False, cancel_futures=True)
        for task in [self._task, *self.tasks]:
            if task:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self.tasks] if t), return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    def idle_s(self) -> float:
        """Seconds between two ticks while nothing is under way (loop.idle_seconds)."""
        try:
            return max(MIN_IDLE_S, self.town.number("loop.idle_seconds"))
        except Exception:  # an unreadable settings file must not stop the loop
            log.exception("reading loop.idle_seconds of town %s failed", self.town.name)
            return float(config.SETTINGS["loop.idle_seconds"].default)

    async def _run(self) -> None:
        # Python 3.11's asyncio.wait_for can swallow a cancellation that races with the
        # awaited event (fixed in 3.12): the daemon's shutdown then waited on this loop
        # forever. asyncio.timeout() propagates it, and the stopping flag ends the loop anyway.
        while not self.stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tick of town %s failed", self.town.name)
            self.ticks_done += 1
            try:
                async with asyncio.timeout(ACTIVE_S if self.active else self.idle_s()):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        self.ticks += 1
        town = self.town
        if self.ticks == 1:
            await self.sweep_merge_worktrees()
        await self.observe()
        await self.check_turns()
        await self.drain()
        now = self.clock()
        # the patrol first: an agent it quarantines or resets must not be dispatched this tick
        psnap = await town.call(witness.build, town, self.stranded)
        paused = await town.call(town.store.patrol_get, holds.PAUSED_KEY) is not None
        p_actions = patrol.while_paused(patrol.patrol(psnap, now), paused)
        for p_action in p_actions:
            try:
                await witness.apply(self, p_action)
            except Exception:
                log.exception("patrol action %s failed", p_action)
        exhausted = await self.budgets.check(self)
        snap = await town.call(build_snapshot, town, frozenset(self.merging), exhausted,
                               patrol.dispatch_stopped(psnap, p_actions, now), dict(self.looked_at))
        await self.budgets.note_held(self, snap.budget_held)
        planned = reconciler.reconcile(snap, now)
        actions = [a for a in planned if not self.dispatch_under_way(a)]
        await asyncio.gather(*(self.apply(a) for a in actions))
        self.stranded = reconciler.stranded(snap, planned, now)  # a dispatch under way is not stranded
        await steps.run_ready_steps(self)
        await self.housekeeping()
        busy = any(a.status in reconciler.BUSY for a in snap.agents) or bool(self.merging) or \
            bool(self.steps_running) or bool(self.dispatch_pending)
        self.active = busy or bool(actions) or any(m.status == "in_progress" for m in snap.mrs)
        await self.container_care(busy or bool(actions))
        self.hub.poke(town)

    async def sweep_merge_worktrees(self) -> None:
        """At start nothing merges yet: temp merge worktrees still registered in a rig clone
        are a killed refinery's leftovers; remove them."""
        for rig in await self.town.call(self.town.store.rig_list):
            try:
                removed = await asyncio.to_thread(refinery.sweep_merge_worktrees, rig["repo_path"])
            except Exception as exc:  # a broken clone must not stop the loop
                log.warning("sweeping merge worktrees of rig %s failed: %s", rig["name"], exc)
                continue
            if removed:
                log.info("removed leftover merge worktrees of rig %s: %s", rig["name"], removed)

    async def container_care(self, busy: bool) -> None:
        """Follow a runtime change in config; put an idle town container to sleep after
        container.sleep_after_minutes (the next turn wakes it)."""
        name = self.town.text("runtime")
        if name != self.runtime_name and not busy:
            log.info("town %s: runtime %s -> %s", self.town.name, self.runtime_name, name)
            self.runtime_name, self.runtime = name, make_runtime(name, self.town.root)
            self.starter.runtime = self.runtime
        if not self.runtime.has_container:
            return
        now = asyncio.get_running_loop().time()
        if busy:
            self.idle_since, self.asleep = None, False
            return
        self.idle_since = self.idle_since or now
        limit = self.town.number("container.sleep_after_minutes") * 60
        if not self.asleep and now - self.idle_since >= limit:
            if await asyncio.to_thread(self.runtime.container_alive):
                log.info("town %s: container idle for %.0f s, stopping it", self.town.name, now - self.idle_since)
                await asyncio.to_thread(self.runtime.stop_container)
            self.asleep = True

    async def housekeeping(self) -> None:
        """Nudge expiry, human notification of high escalations, and the periodic orphan sweep."""
        town = self.town
        await town.call(town.store.expire_nudges)
        await town.call(resolve.resolve_stale, town.store)  # escalations whose cause is gone
        try:
            await mayornotice.tick(self)  # the Mayor hears of new escalations and failed beads
        except Exception:
            log.exception("mayor notice failed")
        await issuesync.announce(town, self.issue_retry)
        loud = await town.call(town.store.escalations_to_notify)
        if loud:
            await asyncio.to_thread(witness.notify_human, town, loud)
        news = await town.call(alerts.pending, town.store, town.text("notify.level"))
        if news:
            await asyncio.to_thread(alerts.send, town, news)
        now = asyncio.get_running_loop().time()
        if now - self.last_sweep >= witness.SWEEP_S:
            self.last_sweep = now
            agents = await town.call(town.store.agent_list)
            rigs = await town.call(town.store.rig_list)
            removed = await asyncio.to_thread(witness.sweep, town, agents, rigs)
            if removed:
                log.info("sweep removed %s", removed)
            archived = await town.call(archive.sweep, town.store, town.number("archive.after_days"))
            if archived:
                log.info("archived %d beads closed over archive.after_days ago", len(archived))

    async def inbox_for(self, agent: str) -> tuple[str, list[str], list[int]]:
        """Undelivered mail and nudges as a prompt preamble, with their ids to mark delivered."""
        mail, nudges = await self.town.call(self.town.store.deliverables, agent)
        return prompts.inbox(mail, nudges), [m["id"] for m in mail], [n["nudge_id"] for n in nudges]

    async def start_triage(self, stuck: dict[str, Any], minutes: float) -> bool:
        """A short-lived triage agent judges a stuck agent; False when the hourly cap is
        used up or a case is open (the caller then escalates as usual)."""
        town = self.town
        bead_id = stuck["hook_bead_id"]
        if not bead_id:
            return False
        judge = (await asyncio.to_thread(library.personas, town, None)).get(persona.TRIAGE)
        adapter = (judge.adapter if judge else "") or town.text("agent.adapter")
        if not adapter:
            return False  # no agent to judge: escalate as usual
        triage = await town.call(town.store.triage_begin, stuck["name"], bead_id, adapter,
                                 town.whole("patrol.triage_per_hour"))
        if triage is None:
            return False
        bead = await town.call(town.store.bead_row, bead_id)
        tail = await asyncio.to_thread(turns.read_output, stuck["turn_dir"] or "", 4000)
        prompt = prompts.triage(town=town.name, agent=stuck["name"], bead=bead, minutes=minutes, tail=tail)
        case = {"id": bead_id, "title": f"triage of {stuck['name']}",
                "metadata": library.snapshot(judge) if judge else {}}
        if judge and judge.instructions:
            prompt += f"\n## Persona: {judge.name}\n{judge.instructions}\n"
        try:
            started = await asyncio.to_thread(self.starter.start_workspace, triage, case, prompt, "triage")
            await town.call(town.store.turn_started, "triage", **started)
        except Exception as exc:  # its own failure never triggers more triage: close the case
            log.warning("starting triage failed: %s", exc)
            await town.call(town.store.dispatch_failed, "triage", turns.failure_from(exc))
            await town.call(town.store.triage_abandon)
            return False
        return True

    async def nudge_turn(self, name: str) -> None:
        """An idle agent with a nudge gets a turn (in its worktree, its session resumed) to read it."""
        town = self.town
        agent = await town.call(town.store.agent_get, name)
        preamble, mail_ids, nudge_ids = await self.inbox_for(name)
        if not preamble or not agent["worktree"]:
            return
        rig = await town.call(town.store.rig_get, agent["rig"])
        try:
            await town.call(town.store.nudge_turn_begin, name)
            started = await asyncio.to_thread(self.starter.start_nudge, agent, rig, preamble)
            await town.call(town.store.turn_started, name, **started)
            await town.call(town.store.mark_delivered, name, mail_ids, nudge_ids)
        except Exception as exc:
            log.warning("nudge turn for %s failed: %s", name, exc)
            await town.call(town.store.dispatch_failed, name, turns.failure_from(exc))

    async def observe(self) -> None:
        """Turns whose runner exited become inbox events (once each). A dead town container
        is recorded; its turns come back as lost (crashed) and their beads are redispatched,
        which starts the container again."""
        town = self.town
        agents = await town.call(town.store.agent_list)
        running = any(a["turn_dir"] and not a["turn_ended_at"] for a in agents)
        if self.runtime.has_container and not self.asleep and running:
            if not await asyncio.to_thread(self.runtime.container_alive):
                await town.call(town.store.inbox_add, "container_status", payload={
                    "alive": False, "restarts": self.runtime.restart_count})
        # an agent being spawned right now is dispatch()'s (it marks it running): never read
        # its turn before the spawn is done, nor use what was read while it was under way
        watched = [a for a in agents if a["turn_dir"] and not a["turn_ended_at"] and a["turn_dir"] not in self.reported
                   and a["name"] not in self.dispatching]
        # one trip to a worker thread for all of them (200 trips queued behind a burst of starts)
        statuses = await asyncio.to_thread(lambda: [turns.finished_turn(self.runtime, a["turn_dir"]) for a in watched])
        for agent, status in zip(watched, statuses):
            turn_dir = agent["turn_dir"]
            if agent["name"] in self.dispatching:
                continue
            if status is None:
                if agent["status"] == "starting":  # spawned, then the daemon died: adopt it
                    await town.call(turnlog.turn_running, town.store, agent["name"], turn_dir)
                await self.status_from_output(agent)
                continue
            if not status and await asyncio.to_thread(runner.read_status, Path(turn_dir)) is None:
                if not _older_than(agent["turn_started_at"], turnlog.RUNNER_GRACE_S, self.clock()):
                    continue  # recorded, its runner may still be writing its first status
                await asyncio.to_thread(self.runtime.stop_turn, Path(turn_dir))
                if await town.call(turnlog.release_never_started, town.store, agent["name"],
                                   "the turn was recorded but its runner never started"):
                    log.warning("turn %s of %s never started; bead released", turn_dir, agent["name"])
                continue
            self.reported.add(turn_dir)
            await town.call(town.store.inbox_add, "turn_exited", agent=agent["name"],
                            payload={"turn_dir": turn_dir, "exit_code": status.get("exit_code"),
                                     "lost": bool(status.get("lost")), "signal": status.get("signal"),
                                     "stopped": bool(status.get("stopped")),
                                     "timed_out": bool(status.get("timed_out"))})

    async def drain(self) -> None:
        town = self.town
        for ev in await town.call(town.store.inbox_pending):
            try:
                await self.apply_event(ev)
            except Exception:
                log.exception("applying inbox event %s failed", ev["event_id"])
            await town.call(town.store.inbox_done, ev["event_id"])

    async def apply_event(self, ev: dict[str, Any]) -> None:
        town = self.town
        if ev["event_type"] == "container_status":
            log.warning("town %s: its container is not running (%s)", town.name, ev["payload"])
            await town.call(town.store.container_died, ev["payload"])
        elif ev["event_type"] == EventType.TURN_EXITED:
            p = ev["payload"]
            agent = await town.call(town.store.agent_get, ev["agent_id"])
            output = await asyncio.to_thread(turns.read_output, p["turn_dir"])
            try:
                home = town.root / "agents" / agent["name"] / "home"
                adapter = adapters.get(agent["adapter"])
                result = adapter.parse_output(output, home)
                lost = p["exit_code"] != 0 and bool(agent["session_id"]) and adapter.session_lost(output)
            except Exception:
                log.exception("parsing the output of %s failed", p["turn_dir"])
                result, lost = adapters.TurnResult(), False
            events = await asyncio.to_thread(self.record_transcript, agent, p, result)
            outcome = await town.call(town.store.turn_exited, ev["agent_id"], exit_code=p["exit_code"],
                                      session_id=result.session_id, tokens_in=result.tokens_in,
                                      tokens_out=result.tokens_out, output_tail=output[-2000:],
                                      ending=_ending(p), said=tr.status_from(events),
                                      tokens_cached=result.tokens_cached,
                                      model=town.text("agent.model", agent["rig"]),
                                      session_lost=lost)
            log.info("turn %s of %s exited (%s): %s", p["turn_dir"], ev["agent_id"], p["exit_code"], outcome)
            if agent["role"] == "triage":  # no verdict: the case closes; it is never triaged again
                await town.call(town.store.triage_abandon)
            if agent["role"] == "mayor":  # the answer joins the chat history, addressed to who asked
                text = adapters.get(agent["adapter"]).reply_text(output)
                human = await town.call(town.store.mayor_requester) or "human"
                await town.call(town.store.mayor_reply, text or f"(the mayor's turn ended with status {p['exit_code']})",
                                to=human, thread=None)

    async def status_from_output(self, agent: dict[str, Any]) -> None:
        """A running agent that says nothing with `gt status` gets its status from its own
        words (its latest message's heading or first sentence), looked at every SAID_S."""
        now = asyncio.get_running_loop().time()
        if now - self.said_at.get(agent["name"], -1e9) < SAID_S:
            return
        self.said_at[agent["name"]] = now
        try:
            events = await asyncio.to_thread(transcripts.events_of, Path(agent["turn_dir"]), agent["adapter"])
        except OSError:
            return
        said = tr.status_from(events)
        if said:
            await self.town.call(self.town.store.status_from_output, agent["name"], said)

    @staticmethod
    def record_transcript(agent: dict[str, Any], p: dict[str, Any], result: adapters.TurnResult) -> list[tr.Event]:
        """Store the finished turn's transcript next to its output (blocking: a thread)."""
        turn_dir = Path(p["turn_dir"])
        try:
            events = transcripts.build(agent["adapter"], transcripts.read_output(turn_dir), p,
                                       (result.tokens_in, result.tokens_out))
            transcripts.store(turn_dir, events)
            return events
        except OSError as exc:
            log.warning("storing the transcript of %s failed: %s", turn_dir, exc)
            return []

    async def apply(self, action: reconciler.Action) -> None:
        town = self.town
        if isinstance(action, FailBead):
            await town.call(town.store.fail_bead, action.bead_id, action.failure)
        elif isinstance(action, Dispatch):  # in the background like merges: beads slung meanwhile need not wait
            self.dispatch_pending[action.bead_id] = action.agent  # for the slowest start of this batch
            task = asyncio.get_running_loop().create_task(self.dispatch(action))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            task.add_done_callback(functools.partial(self._dispatched, action.bead_id))
        elif isinstance(action, CloseMR):
            await town.call(town.store.transition, action.mr_id, "closed", actor="refinery", reason=action.reason)
        elif isinstance(action, (ProcessMR, PollPR)):
            self.looked_at[action.mr_id] = self.clock()  # the next poll waits refinery.pr_poll_seconds
            self.merging.add(action.mr_id)
            task = asyncio.get_running_loop().create_task(self.merge(action.mr_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _dispatched(self, bead_id: str, _task: "asyncio.Task[None]") -> None:
        self.dispatch_pending.pop(bead_id, None)

    def dispatch_under_way(self, action: reconciler.Action) -> bool:
        """A dispatch of this bead, or to this agent, started by an earlier tick and still
        running: the snapshot may not show it yet, so it is not issued twice."""
        if not isinstance(action, Dispatch):
            return False
        agents = {a for a in self.dispatch_pending.values() if a} | self.dispatching
        return action.bead_id in self.dispatch_pending or action.agent in agents

    async def merge(self, mr_id: str) -> None:
        """One merge request through the refinery, off the loop; results land in the store."""
        town, store = self.town, self.town.store
        try:
            mr = await town.call(store.mr_get, mr_id)
            if mr["status"] == "open":
                mr = await town.call(store.mr_begin, mr_id)
            rig = await town.call(store.rig_get, mr["rig"])
            await mergequeue.refinery_step(town, mr, rig, self.starter)
        except Exception as exc:
            log.exception("merge of %s failed", mr_id)
            await town.call(store.mr_failed, mr_id, {"code": FailureCode.INFRA, "message": f"refinery error: {exc}",
                                                     "source": "refinery"}, gates=[], max_retries=1 << 30)
        finally:
            self.merging.discard(mr_id)
            self.hub.poke(town)
            self.wake()

    async def dispatch(self, action: Dispatch) -> None:
        """Hook, prepare, record the turn, spawn it, mark it running: each step is committed
        before the next has an effect, so a crash anywhere leaves a state the next tick (or
        the restarted daemon) resolves (gastown.daemon.store.turnlog, tests/test_crash_points.py)."""
        town = self.town
        try:
            agent, bead = await town.call(town.store.dispatch_begin, action.bead_id, action.agent,
                                          rig=action.rig, adapter=action.adapter)
        except Exception as exc:
            log.info("dispatch of %s skipped: %s", action.bead_id, exc)
            return
        name = agent["name"]
        self.dispatching.add(name)
        crash_point("dispatch.hooked")
        loop = asyncio.get_running_loop()

        def record(turn: dict[str, Any]) -> None:  # on the starter's worker thread
            crash_point("dispatch.recording")
            asyncio.run_coroutine_threadsafe(town.call(
                turnlog.turn_recorded, town.store, name, attempt=bead["dispatch_attempts"], **turn), loop).result()
            crash_point("dispatch.recorded")

        try:
            rig = await town.call(town.store.rig_get, action.rig)
            preamble, mail_ids, nudge_ids = await self.inbox_for(name)
            bead["predecessors"] = await town.call(_predecessors, town.store, bead)
            bead = await town.call(steps.prompt_view, town.store, bead)
            bead["prior_work"] = await self.starter.off_loop(self.starter.prior_work, agent, bead, rig)
            started = await self.starter.off_loop(self.starter.start, agent, bead, rig, preamble, record)
            crash_point("dispatch.spawned")
            await town.call(turnlog.turn_running, town.store, name, started["turn_dir"])
            await town.call(town.store.mark_delivered, name, mail_ids, nudge_ids)
        except Exception as exc:
            log.warning("starting %s on %s failed: %s", name, action.bead_id, exc)
            await town.call(town.store.dispatch_failed, name, turns.failure_from(exc))
        finally:
            self.dispatching.discard(name)

    async def check_turns(self) -> None:
        """The invariant, every tick: an agent `starting` with no recorded turn of its own,
        and not being started by this daemon right now, never started (its dispatcher died
        before recording the turn): release its bead. Recorded turns are resolved by
        observe() (adopted, finished, or never started after the start-up grace)."""
        town = self.town
        for agent in await town.call(turnlog.stranded_agents, town.store, self.opened):
            if agent["name"] in self.dispatching:
                continue
            if await town.call(turnlog.release_never_started, town.store, agent["name"],
                               "the dispatch was interrupted before the turn was recorded"):
                log.warning("agent %s: dispatch never recorded a turn; bead %s released",
                            agent["name"], agent["hook_bead_id"])


def _ending(p: dict[str, Any]) -> dict[str, Any]:
    """How the runner says the turn ended (older inbox events carry only exit_code and lost)."""
    return {"signal": p.get("signal"), "lost": bool(p.get("lost")), "stopped": bool(p.get("stopped")),
            "timed_out": bool(p.get("timed_out"))}
