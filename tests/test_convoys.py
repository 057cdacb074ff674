"""Convoys: plans are validated before anything is written; creation is atomic; staged
convoys do not dispatch; a convoy lands when every member is merged; close force-closes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.store import Store
from gastown.daemon.store.convoyplan import check_plan, parse_plan
from gastown.protocol import ErrorCode, RpcError
from tests.conftest import make_repo, run_gt
from tests.helpers import gtj, wait_for

PLAN = {"title": "ops", "beads": [
    {"id": "a", "title": "A", "rig": "app"},
    {"id": "b", "title": "B", "rig": "app", "depends_on": ["a"]},
    {"id": "c", "title": "C", "rig": "app", "depends_on": ["a", "b"]},
]}


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt")
    s.rig_add("app", "/src", "main", "/x")
    return s


def code(fn, *a, **kw) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(RpcError) as exc:
        fn(*a, **kw)
    return exc.value.code


def test_plan_parsing_toml_and_json() -> None:
    toml = '[[beads]]\nid = "x"\ntitle = "X"\nrig = "app"\n'
    assert parse_plan(toml)["order"] == ["x"]
    assert parse_plan(json.dumps(PLAN))["order"] == ["a", "b", "c"]
    assert code(parse_plan, "not = [valid") == ErrorCode.INVALID_PARAMS


@pytest.mark.parametrize("plan, err", [
    ({"beads": []}, ErrorCode.INVALID_PARAMS),
    ({"beads": [{"id": "a"}]}, ErrorCode.INVALID_PARAMS),
    ({"beads": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}, ErrorCode.INVALID_PARAMS),
    ({"beads": [{"id": "a", "title": "A", "depends_on": ["zz"]}]}, ErrorCode.INVALID_PARAMS),
    ({"beads": [{"id": "a", "title": "A", "depends_on": ["b"]}, {"id": "b", "title": "B", "depends_on": ["a"]}]},
     ErrorCode.CONFLICT),
])
def test_bad_plans_are_refused(plan: dict[str, Any], err: int) -> None:
    assert code(check_plan, plan) == err


def test_create_is_atomic(store: Store) -> None:
    bad = check_plan({"beads": [{"id": "a", "title": "A", "rig": "app"}, {"id": "b", "title": "B", "rig": "nope"}]})
    assert code(store.convoy_create, bad, staged=False, actor="h", requested_by="h") == ErrorCode.NOT_FOUND
    assert store.bead_list() == []


def test_staged_convoy_does_not_dispatch_until_started(store: Store) -> None:
    convoy = store.convoy_create(check_plan(PLAN), staged=True, actor="h", requested_by="Ann <ann@x>")
    assert convoy["staged"] and convoy["total"] == 3 and convoy["progress"]["open"] == 3
    assert store.ready() == []
    store.convoy_start(convoy["id"], actor="h")
    assert [r["title"] for r in store.ready()] == ["A"]
    assert all(m["requested_by"] == "Ann <ann@x>" for m in store.convoy_get(convoy["id"])["members"])
    assert code(store.convoy_start, convoy["id"], actor="h") == ErrorCode.INVALID_STATE


def test_lands_when_every_member_is_merged(store: Store) -> None:
    convoy = store.convoy_create(check_plan(PLAN), staged=False, actor="h", requested_by="h")
    members = convoy["members"]
    for m in members[:-1]:
        store.bead_close(m["id"])
        assert store.convoy_get(convoy["id"])["status"] == "open"
    store.bead_fail(members[-1]["id"], {"code": "x", "message": "no"})
    assert store.convoy_get(convoy["id"])["landed_at"] is None  # a failed member: no landing
    store.bead_reopen(members[-1]["id"], reason="retry")
    store.bead_close(members[-1]["id"])
    landed = store.convoy_get(convoy["id"])
    assert landed["status"] == "closed" and landed["landed_at"] and landed["progress"]["closed"] == 3
    assert "convoy_landed" in [e["event_type"] for e in store.bead_events(convoy["id"])]


def test_force_close_closes_members_without_landing(store: Store) -> None:
    convoy = store.convoy_create(check_plan(PLAN), staged=False, actor="h", requested_by="h")
    agent, _ = store.dispatch_begin(convoy["members"][0]["id"], None, rig="app", adapter="scripted")
    closed, agents = store.convoy_close(convoy["id"], actor="h", reason="changed my mind")
    assert agents == [agent["name"]] and store.agent_row(agent["name"])["hook_bead_id"] is None
    assert closed["status"] == "closed" and closed["landed_at"] is None
    assert all(m["status"] == "closed" for m in closed["members"])


@pytest.mark.slow
def test_serial_convoy_lands_with_one_polecat(gt_home: Path) -> None:
    run_gt("town", "create", "t", check=True)
    repo = make_repo(gt_home / "src" / "app")
    run_gt("rig", "add", "app", str(repo), check=True)
    os.environ["GT_TOWN"] = "t"
    try:
        plan = gt_home / "plan.toml"
        plan.write_text((Path(__file__).resolve().parent.parent / "examples" / "convoy.toml").read_text()
                        .replace("arith.py", "ops.py").replace("README.md", "OPS.md"))
        convoy = gtj("sling", "--batch", str(plan), "--staged")[0]
        assert convoy["staged"] and convoy["total"] == 3
        assert gtj("ready") == []
        run_gt("convoy", "start", convoy["id"], check=True)
        done = wait_for(lambda: (c := gtj("convoy", "show", convoy["id"])[0])["landed_at"] and c, 90, "landed")
        assert {m["assignee"] for m in done["members"]} == {"toast"}  # the serial steps kept their polecat
        assert (repo / "OPS.md").exists() and "def sub" in (repo / "ops.py").read_text()
        listed = gtj("convoy", "list")
        assert listed[0]["status"] == "closed" and listed[0]["progress"]["closed"] == 3
        summed = gtj("convoy", "diff", convoy["id"])[0]  # what landed, per member and in sum
        assert (summed["commits"], summed["files"]) == (3, 3) and summed["insertions"] >= 6
        stat = run_gt("convoy", "diff", convoy["id"], "--stat", check=True).stdout
        assert "ops.py" in stat and stat.splitlines()[-1].startswith("total: 3 commit(s), 3 file(s) changed, +")
    finally:
        os.environ.pop("GT_TOWN", None)
        run_gt("daemon", "stop")


def test_costs_in_tokens_per_bead_convoy_and_agent(store: Store) -> None:
    convoy = store.convoy_create(check_plan(PLAN), staged=False, actor="h", requested_by="h")
    first, second = convoy["members"][0]["id"], convoy["members"][1]["id"]
    agent, _ = store.dispatch_begin(first, None, rig="app", adapter="codex")
    store.turn_started(agent["name"], turn_dir="/t/1", token_hash="x", worktree="/w", branch="b")
    store.turn_exited(agent["name"], exit_code=1, tokens_in=100, tokens_out=10)  # a crashed turn still costs
    store.dispatch_begin(first, agent["name"], rig="app", adapter="codex")
    store.turn_started(agent["name"], turn_dir="/t/2", token_hash="x", worktree="/w", branch="b")
    store.turn_exited(agent["name"], exit_code=0, tokens_in=50, tokens_out=5)
    loose = store.bead_create("outside", rig="app")["id"]
    store.dispatch_begin(loose, agent["name"], rig="app", adapter="codex")
    store.turn_started(agent["name"], turn_dir="/t/3", token_hash="x", worktree="/w", branch="b")
    store.turn_exited(agent["name"], exit_code=0, tokens_in=7, tokens_out=3)
    costs = store.costs()
    assert costs["beads"][first]["tokens_in"] == 150 and costs["beads"][first]["turns"] == 2
    assert second not in costs["beads"]
    assert costs["convoys"] == {convoy["id"]: {"tokens_in": 150, "tokens_out": 15, "turns": 2}}
    assert costs["agents"][agent["name"]] == {"tokens_in": 157, "tokens_out": 18, "turns": 3}
