"""The loop, `gt done` and the merge queue in process (tests/harness.py): a bead goes from
sling to a turn to a merge request to a merge on a real bare repository, or back for rework
when its gate fails. Assertions are on the store and on git."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from gastown.protocol import Method
from tests.harness import Harness, git, make_origin


@pytest.fixture
async def hx(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await Harness.create()
    yield harness
    await harness.close()


async def _dispatched(hx: Harness, bead_id: str) -> dict[str, Any]:
    await hx.tick()
    (agent,) = await hx.working()
    assert agent["hook_bead_id"] == bead_id and agent["status"] == "working"
    return agent


async def test_sling_turn_done_merges_with_a_passing_gate(hx: Harness, tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    await hx.add_rig(origin, gate="test -f feature.txt")
    bead = await hx.call(Method.SLING, rig="app", title="add the feature")
    agent = await _dispatched(hx, bead["id"])
    spec = hx.runtime.specs[0]
    assert spec.env["GT_BEAD_ID"] == bead["id"] and spec.env["GT_AGENT"] == agent["name"]
    assert git(spec.cwd, "rev-parse", "--abbrev-ref", "HEAD") == f"gt/{agent['name']}/{bead['id']}"
    head = hx.commit(agent, {"feature.txt": "on\n"}, "add the feature")
    mr = await hx.done(agent)
    assert mr["metadata"]["head_sha"] == head and mr["status"] == "open"
    assert (await hx.bead(bead["id"]))["status"] == "in_review"
    hx.finish(agent, 0)
    await hx.tick(2)
    merged = await hx.call(Method.MQ_SHOW, id=mr["id"])
    assert merged["status"] == "closed" and merged["merge_commit"], merged
    assert merged["gates"][0]["exit_code"] == 0
    assert git(origin, "rev-parse", "main") == merged["merge_commit"]
    assert git(origin, "show", "main:feature.txt") == "on"
    assert (await hx.bead(bead["id"]))["status"] == "closed"
    assert (await hx.agent(agent["name"]))["status"] == "idle"


async def test_a_failing_gate_sends_the_bead_back_and_the_fix_lands(hx: Harness, tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    await hx.add_rig(origin, gate="grep -q fixed feature.txt")
    before = git(origin, "rev-parse", "main")
    bead = await hx.call(Method.SLING, rig="app", title="add the feature")
    agent = await _dispatched(hx, bead["id"])
    hx.commit(agent, {"feature.txt": "broken\n"})
    mr = await hx.done(agent)
    hx.finish(agent, 0)
    await hx.tick(2)
    failed = await hx.call(Method.MQ_SHOW, id=mr["id"])
    assert failed["status"] == "failed" and failed["gates"][0]["exit_code"] != 0, failed
    assert git(origin, "rev-parse", "main") == before  # nothing landed
    source = await hx.bead(bead["id"])
    assert source["failure_reason"]["code"] == "gate_failed", source
    events = [e["event_type"] for e in await hx.call(Method.BEAD_EVENTS, id=bead["id"])]
    assert "rework_requested" in events, events
    # rework: the bead is dispatched again (after its backoff, if any) on the same branch
    for _ in range(8):
        if await hx.working():
            break
        hx.clock.advance(600)
        await hx.tick()
    (again,) = await hx.working()
    assert again["hook_bead_id"] == bead["id"] and again["turn_dir"] != agent["turn_dir"]
    assert again["branch"] == agent["branch"] and len(hx.runtime.specs) == 2
    hx.commit(again, {"feature.txt": "fixed\n"})
    mr2 = await hx.done(again)
    hx.finish(again, 0)
    await hx.tick(2)
    assert (await hx.call(Method.MQ_SHOW, id=mr2["id"]))["status"] == "closed"
    assert git(origin, "show", "main:feature.txt") == "fixed"
    assert (await hx.bead(bead["id"]))["status"] == "closed"
