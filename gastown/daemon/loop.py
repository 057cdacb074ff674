"""The per-town alarm loop: observe -> drain inbox -> reconcile -> apply -> invariants.

Ticks about every second while work is active, every 30 s when idle, and at once when
woken (a sling, a `gt done`). A failing side effect becomes an event and state the next
tick repairs; it never kills the loop.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from gastown.daemon import adapters, reconciler, turns
from gastown.daemon.reconciler import AgentSnap, Dispatch, FailBead, ReadyBead, RigSnap, Snapshot
from gastown.daemon.runtime import Runtime, make_runtime

if TYPE_CHECKING:
    from gastown.daemon.hub import Hub
    from gastown.daemon.towns import Town

log = logging.getLogger("gastown.daemon.loop")
ACTIVE_S, IDLE_S = 1.0, 30.0


def _dt(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) if value else None


def build_snapshot(town: "Town") -> Snapshot:
    """Read what the reconciler needs (runs on the town's writer thread)."""
    store = town.store
    from gastown.daemon import readiness

    ready_ids = readiness.ready_ids(store.conn, limit=500)
    ready = []
    for bead_id in ready_ids:
        b = store.bead_row(bead_id)
        if not b["rig"]:
            continue
        ready.append(ReadyBead(id=b["id"], rig=b["rig"], priority=b["priority"], attempts=b["dispatch_attempts"],
                               last_dispatch_at=_dt(b["last_dispatch_at"]), adapter=b["metadata"].get("agent")))
    agents = tuple(
        AgentSnap(name=a["name"], role=a["role"], rig=a["rig"], hook=a["hook_bead_id"],
                  last_bead_id=a["last_bead_id"], status=_effective_status(a))
        for a in store.agent_list())
    rigs = {}
    for r in store.rig_list():
        cfg = town.config
        rigs[r["name"]] = RigSnap(
            name=r["name"], max_polecats=int(cfg("rig.max_polecats", r["name"])[0]),
            max_attempts=int(cfg("dispatch.max_attempts", r["name"])[0]),
            adapter=str(cfg("agent.adapter", r["name"])[0]),
            backoff_scale=float(cfg("dispatch.backoff_scale", r["name"])[0]))
    return Snapshot(ready=tuple(ready), agents=agents, rigs=rigs)


def _effective_status(agent: dict[str, Any]) -> str:
    """An idle agent whose last turn has not ended yet is not free for new work."""
    if agent["status"] == "idle" and agent["turn_dir"] and not agent["turn_ended_at"]:
        return "working"
    return str(agent["status"])


class TownLoop:
    def __init__(self, town: "Town", hub: "Hub", runtime: Runtime | None = None) -> None:
        self.town = town
        self.hub = hub
        self.runtime = runtime or make_runtime(str(town.config("runtime")[0]), town.root)
        self.starter = turns.TurnStarter(town, self.runtime)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.active = True
        self.ticks = 0
        self.reported: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"loop-{self.town.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tick of town %s failed", self.town.name)
            try:
                await asyncio.wait_for(self._wake.wait(), ACTIVE_S if self.active else IDLE_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        self.ticks += 1
        town = self.town
        await self.observe()
        await self.drain()
        snap = await town.call(build_snapshot, town)
        actions = reconciler.reconcile(snap, datetime.now(timezone.utc))
        await asyncio.gather(*(self.apply(a) for a in actions))
        busy = any(a.status in reconciler.BUSY for a in snap.agents)
        self.active = busy or bool(actions)
        self.hub.poke(town)

    async def observe(self) -> None:
        """Turns whose runner exited become inbox events (once each)."""
        town = self.town
        for agent in await town.call(town.store.agent_list):
            turn_dir = agent["turn_dir"]
            if not turn_dir or agent["turn_ended_at"] or turn_dir in self.reported:
                continue
            status = await asyncio.to_thread(turns.finished_turn, self.runtime, turn_dir)
            if status is None:
                continue
            self.reported.add(turn_dir)
            await town.call(town.store.inbox_add, "turn_exited", agent=agent["name"],
                            payload={"turn_dir": turn_dir, "exit_code": status.get("exit_code"),
                                     "lost": bool(status.get("lost"))})

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
        if ev["event_type"] == "turn_exited":
            p = ev["payload"]
            agent = await town.call(town.store.agent_get, ev["agent_id"])
            output = await asyncio.to_thread(turns.read_output, p["turn_dir"])
            try:
                home = town.root / "agents" / agent["name"] / "home"
                result = adapters.get(agent["adapter"]).parse_output(output, home)
            except Exception:
                log.exception("parsing the output of %s failed", p["turn_dir"])
                result = adapters.TurnResult()
            outcome = await town.call(town.store.turn_exited, ev["agent_id"], exit_code=p["exit_code"],
                                      session_id=result.session_id, tokens_in=result.tokens_in,
                                      tokens_out=result.tokens_out, output_tail=output[-2000:])
            log.info("turn %s of %s exited (%s): %s", p["turn_dir"], ev["agent_id"], p["exit_code"], outcome)

    async def apply(self, action: reconciler.Action) -> None:
        town = self.town
        if isinstance(action, FailBead):
            await town.call(town.store.fail_bead, action.bead_id, action.failure)
        elif isinstance(action, Dispatch):
            await self.dispatch(action)

    async def dispatch(self, action: Dispatch) -> None:
        town = self.town
        try:
            agent, bead = await town.call(town.store.dispatch_begin, action.bead_id, action.agent,
                                          rig=action.rig, adapter=action.adapter)
        except Exception as exc:
            log.info("dispatch of %s skipped: %s", action.bead_id, exc)
            return
        try:
            rig = await town.call(town.store.rig_get, action.rig)
            started = await asyncio.to_thread(self.starter.start, agent, bead, rig)
            await town.call(town.store.turn_started, agent["name"], **started)
        except Exception as exc:
            log.warning("starting %s on %s failed: %s", agent["name"], action.bead_id, exc)
            await town.call(town.store.dispatch_failed, agent["name"], turns.failure_from(exc))
