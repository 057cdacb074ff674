"""RPC handlers and the merge queue in process (tests/harness.py): the agents' `done` tool
refuses empty work and answers a repeat with the first merge request, the role rules of
the agent socket hold, and two merge requests land one after the other on a real bare
repository while a conflicting third goes back for rework."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from gastown.protocol import ErrorCode, Method, RpcError
from tests.harness import Harness, git, make_origin


@pytest.fixture
async def origin(tmp_path: Path) -> Path:
    return make_origin(tmp_path, {"README.md": "hello\n", "shared.txt": "base\n"})


@pytest.fixture
async def hx(origin: Path) -> AsyncIterator[Harness]:
    harness = await Harness.create()
    await harness.add_rig(origin)
    yield harness
    await harness.close()


async def _agent_on(hx: Harness, bead_id: str) -> dict[str, Any]:
    (agent,) = [a for a in await hx.working() if a["hook_bead_id"] == bead_id]
    return agent


async def test_done_without_commits_is_refused_and_changes_nothing(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="empty")
    await hx.tick()
    agent = await _agent_on(hx, bead["id"])
    with pytest.raises(RpcError) as err:
        await hx.done(agent)
    assert err.value.code == ErrorCode.INVALID_STATE and "no commits" in err.value.message
    assert (await hx.bead(bead["id"]))["status"] == "in_progress"
    assert await hx.call(Method.MQ_LIST) == []


async def test_a_repeated_done_answers_with_the_first_merge_request(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="once")
    await hx.tick()
    agent = await _agent_on(hx, bead["id"])
    hx.commit(agent, {"a.txt": "a\n"})
    first = await hx.done(agent)
    second = await hx.done(agent)
    assert second["id"] == first["id"]
    assert [m["bead_id"] for m in await hx.call(Method.MQ_LIST)] == [first["id"]]


async def test_the_agent_socket_keeps_to_its_role(hx: Harness) -> None:
    bead = await hx.call(Method.SLING, rig="app", title="roles")
    await hx.tick()
    agent = await _agent_on(hx, bead["id"])
    with pytest.raises(RpcError) as err:
        await hx.call(Method.SLING, as_agent=agent["name"], title="a polecat may not sling")
    assert err.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(RpcError) as err:
        await hx.call(Method.TOOL_DONE)  # a human connection has no agent token
    assert err.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(RpcError) as err:
        await hx.call(Method.SLING, rig="app", title="x", colour="red")
    assert err.value.code == ErrorCode.INVALID_PARAMS and "colour" in err.value.message
    assert [b["title"] for b in await hx.call(Method.BEAD_LIST) if b["type"] == "issue"] == ["roles"]


async def test_merges_land_in_turn_and_a_conflict_goes_back(hx: Harness, origin: Path) -> None:
    titles = ["first", "second", "clashing"]
    beads = [await hx.call(Method.SLING, rig="app", title=t) for t in titles]
    await hx.tick()
    agents = [await _agent_on(hx, b["id"]) for b in beads]
    hx.commit(agents[0], {"one.txt": "1\n", "shared.txt": "from first\n"})
    hx.commit(agents[1], {"two.txt": "2\n"})
    hx.commit(agents[2], {"shared.txt": "from clashing\n"})
    mrs = []
    for agent in agents:  # the queue goes by priority, then age: a second apart, in this order
        mrs.append(await hx.done(agent))
        hx.clock.advance(1)
    for agent in agents:
        hx.finish(agent, 0)
    for _ in range(6):
        await hx.tick()
        shown = [await hx.call(Method.MQ_SHOW, id=m["id"]) for m in mrs]
        if all(m["status"] in ("closed", "failed") for m in shown):
            break
    assert [m["status"] for m in shown] == ["closed", "closed", "failed"], shown
    assert shown[2]["failure_reason"]["code"] == "conflict", shown[2]["failure_reason"]
    log = git(origin, "log", "--format=%H", "main").split()
    assert shown[1]["merge_commit"] == log[0] and shown[0]["merge_commit"] in log
    assert git(origin, "show", "main:shared.txt") == "from first"
    assert git(origin, "show", "main:two.txt") == "2"
    events = [e["event_type"] for e in await hx.call(Method.BEAD_EVENTS, id=beads[2]["id"])]
    assert "rework_requested" in events, events
    assert {(await hx.bead(b["id"]))["status"] for b in beads[:2]} == {"closed"}
