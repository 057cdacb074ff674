"""The ledger: prices -> exact dollars, usage per turn recorded with the turn's exit, costs
by every dimension, budget states and their events, the migration's backfill, and the
flow gauges over a scripted day with a fixed clock."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import apsw
import pytest

from gastown.daemon.rules import budgets
from gastown.daemon.store import ledger, schema
from gastown.daemon.store import Store
from gastown.pricing import BUILTIN, PriceTable, check_overrides

PRICES = PriceTable({"fake-model": {"input": 3.0, "output": 15.0, "cached": 0.3},
                     "other-model": {"input": 1.0, "output": 2.0}})


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, hh: int, mm: int = 0) -> None:
        self.now = self.now.replace(hour=hh, minute=mm)


T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(clock: Clock) -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt", clock=clock)
    s.rig_add("app", "/src", "main", "/x")
    s.rig_add("web", "/src2", "main", "/y")
    return s


def turn(store: Store, bead_id: str, agent: str | None, *, t_in: int, t_out: int, cached: int = 0,
         model: str = "fake-model", exit_code: int = 0, rig: str = "app") -> str:
    a, _ = store.dispatch_begin(bead_id, agent, rig=rig, adapter="codex")
    store.turn_started(a["name"], turn_dir=f"/t/{a['turns'] + 1}", token_hash="x", worktree="/w", branch="b")
    store.turn_exited(a["name"], exit_code=exit_code, tokens_in=t_in, tokens_out=t_out, tokens_cached=cached,
                      model=model)
    return str(a["name"])


# ---------------------------------------------------------------------- prices
def test_dollars_are_exact_for_known_prices() -> None:
    # 1M input of which 200k cached, 100k output at 3 / 15 / 0.3 $ per million
    assert PRICES.dollars("fake-model", 1_000_000, 100_000, 200_000) == pytest.approx(0.8 * 3 + 0.2 * 0.3 + 1.5)
    assert PRICES.dollars("other-model", 500_000, 0) == pytest.approx(0.5)
    assert PRICES.dollars("no-such-model", 10, 10) is None
    assert PRICES.dollars("", 10, 10) is None


def test_lookup_by_provider_prefix_and_dated_release() -> None:
    table = PriceTable()
    assert table.lookup("openai/gpt-4o") == BUILTIN["gpt-4o"]
    assert table.lookup("claude-sonnet-4-20250514") == BUILTIN["claude-sonnet-4"]
    assert table.lookup("gpt-4o-mini-2024-07-18") == BUILTIN["gpt-4o-mini"]  # the longest prefix wins
    assert table.lookup("gpt-4") is None


def test_overrides_replace_builtins_and_are_checked() -> None:
    table = PriceTable({"gpt-4o": {"input": 1, "output": 1, "cached": 1}})
    assert table.dollars("gpt-4o", 1_000_000, 0) == pytest.approx(1.0)
    assert {r["model"]: r["source"] for r in table.rows()}["gpt-4o"] == "config"
    assert check_overrides({"m": {"input": 1, "output": 2}}) is None
    assert "non-negative" in (check_overrides({"m": {"input": -1}}) or "")
    assert "unknown field" in (check_overrides({"m": {"inptu": 1}}) or "")
    assert check_overrides("cheap") is not None


# --------------------------------------------------------------------- budgets
def test_budget_rules() -> None:
    assert budgets.fraction(1000, None, 800, 0.0) == 0.8
    assert budgets.fraction(1000, 2.0, 100, 3.0) == 1.5  # the fuller cap decides
    assert [budgets.state_of(f) for f in (0.5, 0.8, 1.0)] == ["ok", "warning", "exhausted"]
    beads = [budgets.BeadScopes("a", "app", "c1", "Ann <a@x>"), budgets.BeadScopes("b", "web", None, None)]
    assert budgets.blocked(beads, {("rig", "app")}) == {"a": "rig:app"}
    assert budgets.blocked(beads, {("town", "")}) == {"a": "town", "b": "town"}
    assert budgets.blocked(beads, {("human", "Ann <a@x>")}) == {"a": "human:Ann <a@x>"}
    assert budgets.blocked(beads, set()) == {}


# ---------------------------------------------------------------------- ledger
def test_every_turn_is_recorded_and_costs_group_exactly(store: Store, clock: Clock) -> None:
    a = store.bead_create("A", rig="app", requested_by="Ann <a@x>")["id"]
    b = store.bead_create("B", rig="web", requested_by="Bob <b@x>")["id"]
    pa = turn(store, a, None, t_in=1_000_000, t_out=100_000, exit_code=1)  # a crashed turn still costs
    clock.now += timedelta(days=1)
    turn(store, a, pa, t_in=500_000, t_out=0, model="other-model")
    turn(store, b, None, t_in=10, t_out=10, model="mystery", rig="web")
    by_human = {r["key"]: r for r in ledger.costs(store, PRICES, by="human")["rows"]}
    assert by_human["Ann <a@x>"]["dollars"] == pytest.approx(3.0 + 1.5 + 0.5)
    assert by_human["Ann <a@x>"]["turns"] == 2
    assert by_human["Bob <b@x>"]["dollars"] == 0 and by_human["Bob <b@x>"]["unpriced_tokens"] == 20
    by_day = ledger.costs(store, PRICES, by="day")
    assert [r["key"] for r in by_day["rows"]] == ["2026-11-02", "2026-11-03"]
    assert by_day["unpriced_models"] == ["mystery"]
    assert by_day["total"]["dollars"] == pytest.approx(5.0)
    by_model = {r["key"]: r["dollars"] for r in ledger.costs(store, PRICES, by="model")["rows"]}
    assert by_model == {"fake-model": pytest.approx(4.5), "other-model": pytest.approx(0.5), "mystery": 0}
    assert {r["key"] for r in ledger.costs(store, PRICES, by="rig")["rows"]} == {"app", "web"}
    since = ledger.costs(store, PRICES, by="bead", since="2026-11-03T00:00:00.000000Z")
    assert since["total"]["turns"] == 2
    with pytest.raises(ValueError):
        ledger.costs(store, PRICES, by="colour")


def test_budget_states_change_once_with_events(store: Store) -> None:
    a = store.bead_create("A", rig="app")["id"]
    ledger.budget_set(store, "rig", "app", tokens=1000, dollars=None)
    name = turn(store, a, None, t_in=700, t_out=100)
    current, changed = ledger.budget_check(store, PRICES)
    assert [(b["id"], b["status"], b["percent"]) for b in changed] == [("rig:app", "warning", 80.0)]
    assert ledger.budget_check(store, PRICES)[1] == []  # no change, no second event
    turn(store, a, name, t_in=200, t_out=0)
    _, changed = ledger.budget_check(store, PRICES)
    assert [b["status"] for b in changed] == ["exhausted"]
    ledger.budget_set(store, "rig", "app", tokens=10_000, dollars=None)  # raising the cap releases it
    _, changed = ledger.budget_check(store, PRICES)
    assert [b["status"] for b in changed] == ["ok"]
    kinds = [r[0] for r in store.conn.execute(
        "SELECT event_type FROM bead_events WHERE event_type LIKE 'budget_%' ORDER BY seq")]
    assert kinds == ["budget_set", "budget_warning", "budget_exhausted", "budget_set", "budget_released"]
    assert ledger.budget_clear(store, "rig", "app") and not ledger.budget_clear(store, "rig", "app")


def test_migration_backfills_usage_from_turn_events() -> None:
    """A town made before the ledger keeps its history: turn_exited events become usage rows."""
    path = Path(tempfile.mkdtemp(prefix="gt-")) / "town.db"
    conn = apsw.Connection(str(path))
    with conn:
        conn.execute(schema.MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO beads(id, type, title, rig, requested_by, created_at, updated_at, metadata) "
                     "VALUES ('gt-a', 'issue', 'A', 'app', 'Ann <a@x>', 't', 't', '{\"convoy\": \"gt-c\"}')")
        conn.execute("INSERT INTO bead_events(bead_id, event_type, new_value, metadata, created_at) VALUES "
                     "('gt-ag', 'turn_exited', '0', ?, '2026-01-02T03:04:05.000000Z')",
                     (json.dumps({"agent": "toast", "bead": "gt-a", "tokens_in": 12, "tokens_out": 3}),))
    conn.close()
    s = Store(path, "gt")
    rows = list(s.conn.execute("SELECT day, agent, rig, bead_id, convoy, requested_by, tokens_in, tokens_out "
                               "FROM turn_usage"))
    assert rows == [("2026-01-02", "toast", "app", "gt-a", "gt-c", "Ann <a@x>", 12, 3)]


def _merge(store: Store, agent: str, bead_id: str) -> str:
    mr = store.agent_done(agent, summary="s", head_sha="abc", branch="b", target_branch="main", commits=1)
    return str(mr["id"])


def test_gauges_over_a_scripted_day(store: Store, clock: Clock) -> None:
    a = store.bead_create("A", rig="app")["id"]
    b = store.bead_create("B", rig="app")["id"]
    c = store.bead_create("C", rig="app")["id"]
    pa, _ = store.dispatch_begin(a, None, rig="app", adapter="codex")
    store.turn_started(pa["name"], turn_dir="/t/a", token_hash="x", worktree="/w", branch="b")
    pb, _ = store.dispatch_begin(b, None, rig="app", adapter="codex")
    store.turn_started(pb["name"], turn_dir="/t/b", token_hash="x", worktree="/w", branch="b")
    clock.at(8, 10)
    mr1 = _merge(store, pa["name"], a)
    store.turn_exited(pa["name"], exit_code=0, tokens_in=1_000_000, tokens_out=0, model="fake-model")
    clock.at(8, 20)
    store.mr_merged(mr1, merge_commit="m1", landed_on="main", gates=[], message="merged")  # A: 20 min, first try
    clock.at(8, 30)
    mr2 = _merge(store, pb["name"], b)
    store.turn_exited(pb["name"], exit_code=0, tokens_in=0, tokens_out=0, model="fake-model")
    clock.at(8, 40)
    store.mr_failed(mr2, {"code": "gate_failed", "message": "red"}, gates=[], max_retries=3)
    store.dispatch_begin(b, pb["name"], rig="app", adapter="codex")
    store.turn_started(pb["name"], turn_dir="/t/b2", token_hash="x", worktree="/w", branch="b")
    clock.at(9, 0)
    mr3 = _merge(store, pb["name"], b)
    store.turn_exited(pb["name"], exit_code=0, tokens_in=0, tokens_out=0, model="fake-model")
    clock.at(9, 10)
    store.mr_merged(mr3, merge_commit="m3", landed_on="main", gates=[], message="merged")  # B: 70 min, rework
    clock.at(9, 30)
    store.fail_bead(c, {"code": "dispatch_exhausted", "message": "gave up"})
    clock.at(10, 0)
    assert ledger.sample(store, clock.now) and not ledger.sample(store, clock.now + timedelta(seconds=5))
    s = ledger.stats(store, PRICES, since="2026-11-02T08:00:00.000000Z", now=clock.now)
    assert s["merged"] == 2 and s["merges_per_hour"] == 1.0
    assert s["median_sling_to_merged_s"] == 2700.0  # median of 20 and 70 minutes
    assert s["first_try_pass_rate"] == 0.5 and s["rework_rate"] == 0.5
    assert s["failure_rate"] == pytest.approx(0.333)
    # busy: A 08:00-08:10, B 08:00-08:30 and 08:40-09:00 = 60 min of 2 polecats x 2 h
    assert s["agent_utilisation"] == 0.25
    assert s["queue_depth"] == {"ready_beads": 0, "merge_requests": 0}
    assert s["dollars"] == pytest.approx(3.0)
    model = s["by_model"][0]
    assert model["model"] == "fake-model" and model["merged_beads"] == 2 and model["dollars_per_merged_bead"] == 1.5
    assert model["first_try_pass_rate"] == 0.5
    assert s["series"]["ready"] == [0]


def test_costs_of_one_hundred_thousand_turns_stay_indexed(store: Store) -> None:
    """Not a timing (that lives in bench/): the query plan of the grouped read uses no temp
    B-tree per row beyond the GROUP BY, and the since-filter uses the ended_at index."""
    plan = " ".join(str(r) for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT day, model, sum(tokens_in) FROM turn_usage WHERE ended_at >= ? GROUP BY 1, 2",
        ("2026",)))
    assert "turn_usage_ended" in plan


