"""The loop's scheduling in process (tests/harness.py): backoff after a crashed turn on a
fixed clock, hold/release and town pause through the RPC handlers, and a restarted loop
adopting a turn the previous one recorded. Assertions are on the store and the runtime."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from gastown.daemon.rules import reconciler
from gastown.daemon.store import turnlog
from gastown.protocol import Method
from tests.harness import Harness, make_origin


@pytest.fixture
async def hx(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await Harness.create()
    await harness.add_rig(make_origin(tmp_path))
    yield harness
    await harness.close()


async def _only_working(hx: Harness) -> dict[str, Any]:
    (agent,) = await hx.working()
    return agent


async def test_a_crashed_turn_backs_off_then_the_next_tick_after_it_dispatches(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="flaky work")
    await hx.tick()
    agent = await _only_working(hx)
    hx.finish(agent, 1, output="segfault\n")
    await hx.tick()
    back = await hx.bead(bead["id"])
    assert back["status"] == "open" and back["dispatch_attempts"] == 1 and back["assignee"] is None, back
    ended = await hx.agent(agent["name"])
    assert ended["turn_ended_at"] and ended["hook_bead_id"] is None
    wait = reconciler.BACKOFF_S[1]
    hx.clock.advance(wait - 1)
    await hx.tick(2)
    assert len(hx.runtime.specs) == 1 and not await hx.working()  # still inside its backoff
    hx.clock.advance(2)
    await hx.tick()
    again = await _only_working(hx)
    assert again["hook_bead_id"] == bead["id"] and len(hx.runtime.specs) == 2
    assert (await hx.bead(bead["id"]))["dispatch_attempts"] == 2


async def test_a_held_bead_waits_for_release(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="not yet")
    held = await hx.call(Method.BEAD_HOLD, id=bead["id"], reason="waiting on legal")
    assert held["id"] == bead["id"]
    await hx.tick(2)
    assert hx.runtime.specs == [] and (await hx.bead(bead["id"]))["assignee"] is None
    await hx.call(Method.BEAD_RELEASE, id=bead["id"])
    await hx.tick()
    assert (await _only_working(hx))["hook_bead_id"] == bead["id"]


async def test_a_paused_town_stops_its_turn_and_dispatches_nothing_until_resumed(hx: Harness) -> None:
    first = await hx.call(Method.SLING, rig="app", title="running when paused")
    await hx.tick()
    agent = await _only_working(hx)
    await hx.call(Method.TOWN_PAUSE, reason="maintenance")
    assert not hx.runtime.is_running(Path(agent["turn_dir"]))  # the handler stopped the turn
    second = await hx.call(Method.SLING, rig="app", title="slung while paused")
    hx.clock.advance(3600)
    await hx.tick(3)
    assert len(hx.runtime.specs) == 1 and not await hx.working()
    assert (await hx.bead(second["id"]))["assignee"] is None
    await hx.call(Method.TOWN_RESUME)
    hx.clock.advance(3600)
    await hx.tick(2)
    hooked = {a["hook_bead_id"] for a in await hx.working()}
    assert second["id"] in hooked and len(hx.runtime.specs) >= 2, hooked
    assert {first["id"], second["id"]} >= hooked


async def test_a_restarted_loop_adopts_a_turn_its_predecessor_spawned(hx: Harness) -> None:
    """The first loop dies between spawning the runner and marking the agent working: the
    agent is `starting` with its turn recorded. A new loop on the same store adopts the
    running turn (no second turn) and later sees it finish."""
    bead = await hx.call(Method.SLING, rig="app", title="survives a restart")
    old = hx.runtime
    old.hold_start = release = threading.Event()
    tick = asyncio.get_running_loop().create_task(hx.loop.tick())
    assert await asyncio.to_thread(old.started.wait, 10)
    dying = [tick, *hx.loop.tasks]  # the tick and the dispatch it started in the background
    for task in dying:
        task.cancel()  # the daemon is gone before turn_running
    await asyncio.gather(*dying, return_exceptions=True)
    release.set()  # let the spawning thread return (its result has no one to go to)
    (agent,) = [a for a in await hx.town.call(hx.town.store.agent_list) if a["hook_bead_id"] == bead["id"]]
    assert agent["status"] == "starting" and agent["turn_dir"], agent
    loop = hx.restart()
    await hx.tick()
    adopted = await hx.agent(agent["name"])
    assert adopted["status"] == "working" and adopted["turn_dir"] == agent["turn_dir"], adopted
    assert hx.runtime.specs == [] and loop.ticks == 1  # adopted, not started again
    old.finish(agent["turn_dir"], 1)
    await hx.tick()
    assert (await hx.agent(agent["name"]))["turn_ended_at"]
    assert (await hx.bead(bead["id"]))["dispatch_attempts"] == 1


async def test_a_lost_runner_counts_as_a_crash(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="lost")
    await hx.tick()
    agent = await _only_working(hx)
    hx.runtime.lose(agent["turn_dir"])
    await hx.tick()
    back = await hx.bead(bead["id"])
    assert back["status"] == "open" and back["dispatch_attempts"] == 1, back
    assert (await hx.agent(agent["name"]))["turn_ended_at"]
    assert back["failure_reason"]["code"] == "runner_lost", back["failure_reason"]


async def test_a_turn_whose_runner_never_wrote_its_status_is_released_after_the_grace(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="never started")
    hx.runtime.silent = True
    await hx.tick()
    agent = await _only_working(hx)
    hx.clock.advance(turnlog.RUNNER_GRACE_S - 1)
    await hx.tick()
    assert (await hx.agent(agent["name"]))["hook_bead_id"] == bead["id"]  # still inside its grace
    hx.clock.advance(2)
    await hx.tick()
    released = await hx.agent(agent["name"])
    assert released["hook_bead_id"] is None and released["status"] == "idle", released
    back = await hx.bead(bead["id"])
    assert back["status"] == "open" and back["assignee"] is None, back


async def test_a_bead_slung_during_a_slow_start_does_not_wait_for_it(hx: Harness) -> None:
    """Dispatches run in the background like merges: a tick does not wait for the turns it
    starts, so work slung meanwhile is dispatched at the next tick, not after the slowest
    start of the previous batch (a 200-bead sling waited for a whole first batch)."""
    first = await hx.call(Method.SLING, rig="app", title="slow to start")
    hx.runtime.hold_start = hold = threading.Event()
    await hx.loop.tick()  # returns with the first start still blocked in the runtime
    assert await asyncio.to_thread(hx.runtime.started.wait, 10)
    hx.runtime.hold_start = None  # only the first start is slow
    second = await hx.call(Method.SLING, rig="app", title="slung meanwhile")
    await hx.loop.tick()

    async def hooked(bead_id: str) -> dict[str, Any] | None:
        agents = [a for a in await hx.working() if a["hook_bead_id"] == bead_id and a["status"] == "working"]
        return agents[0] if agents else None

    for _ in range(2000):  # the second turn starts while the first is still held
        if await hooked(second["id"]):
            break
        await asyncio.sleep(0.01)
    assert await hooked(second["id"]) and not await hooked(first["id"])
    slow = [a for a in await hx.town.call(hx.town.store.agent_list) if a["hook_bead_id"] == first["id"]]
    assert [a["status"] for a in slow] == ["starting"]
    hold.set()
    await hx.settle()
    assert await hooked(first["id"]) and len(hx.runtime.specs) == 2


async def test_observe_never_reads_a_turn_while_its_dispatch_is_spawning_it(hx: Harness) -> None:
    """A turn read while its runner is being spawned (no status yet) must not be judged
    later, once the runner runs: it would count as a runner that vanished."""
    bead = await hx.call(Method.SLING, rig="app", title="spawning")
    hx.runtime.hold_start = hold = threading.Event()
    read: list[Path] = []
    real = hx.runtime.is_running

    def is_running(turn_dir: Path) -> bool:
        read.append(Path(turn_dir))
        return real(turn_dir)

    hx.runtime.is_running = is_running  # type: ignore[method-assign]
    await hx.loop.tick()
    assert await asyncio.to_thread(hx.runtime.started.wait, 10)
    (agent,) = [a for a in await hx.town.call(hx.town.store.agent_list) if a["hook_bead_id"] == bead["id"]]
    await hx.loop.observe()
    assert Path(agent["turn_dir"]) not in read
    hold.set()
    await hx.settle()
    await hx.tick()
    assert (await hx.agent(agent["name"]))["status"] == "working"
    assert (await hx.bead(bead["id"]))["status"] == "in_progress"
