"""Archival and staged-convoy membership: store rules on a real SQLite file, the migration on
an existing V1 file, and the CLI against a real daemon."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import apsw
import pytest

from gastown.daemon.store import archive, schema
from gastown.daemon.store import Store
from gastown.protocol import ErrorCode, RpcError
from tests.conftest import run_gt
from tests.helpers import gtj

PLAN = {"title": "ops", "order": ["a", "b"], "rig": "app",
        "beads": {"a": {"title": "A"}, "b": {"title": "B", "depends_on": ["a"]}}}


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt")
    s.rig_add("app", "/src", "main", "/x")
    return s


def code(fn, *a, **kw) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(RpcError) as exc:
        fn(*a, **kw)
    return exc.value.code


def test_archived_beads_leave_lists_and_counts_and_come_back(store: Store) -> None:
    live = store.bead_create("live", rig="app")
    done = store.bead_create("done", rig="app")
    store.bead_close(done["id"], actor="human", reason="ok")
    assert code(archive.archive, store, [live["id"], done["id"]], actor="human") == ErrorCode.INVALID_STATE
    assert store.bead_get(done["id"])["archived_at"] is None  # all or none
    assert store.counts() == {"open": 1, "closed": 1}
    archive.archive(store, [done["id"]], actor="human")
    archive.archive(store, [done["id"]], actor="human")  # idempotent: one event
    assert [b["id"] for b in store.bead_list()] == [live["id"]]
    assert [b["id"] for b in store.bead_list(archived=True)] == [done["id"]]
    assert store.counts() == {"open": 1}
    assert store.bead_get(done["id"])["archived_at"]  # still readable by id
    assert [e["event_type"] for e in store.bead_events(done["id"])].count("archived") == 1
    archive.unarchive(store, [done["id"]], actor="human")
    assert {b["id"] for b in store.bead_list()} == {live["id"], done["id"]}
    assert code(archive.archive, store, [], actor="human") == ErrorCode.INVALID_PARAMS


def test_sweep_archives_only_beads_closed_long_enough(store: Store) -> None:
    old = store.bead_create("old", rig="app")
    store.bead_close(old["id"], actor="human", reason="ok")
    new = store.bead_create("new", rig="app")
    store.bead_close(new["id"], actor="human", reason="ok")
    store.conn.execute("UPDATE beads SET closed_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?", (old["id"],))
    assert archive.sweep(store, 0) == []  # 0: never
    assert archive.sweep(store, 30) == [old["id"]]
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert archive.sweep(store, 30, now=later) == [new["id"]]
    assert store.bead_list() == []


def test_staged_convoy_members_are_added_and_removed(store: Store) -> None:
    convoy = store.convoy_create(PLAN, staged=True, actor="human", requested_by="human")
    extra = store.bead_create("C", rig="app")
    busy = store.bead_create("D", rig="app")
    store.bead_close(busy["id"], actor="human", reason="x")
    after = archive.convoy_add(store, convoy["id"], [extra["id"]], actor="human")
    assert after["total"] == 3 and extra["id"] in {m["id"] for m in after["members"]}
    assert store.bead_get(extra["id"])["metadata"]["convoy"] == convoy["id"]
    assert archive.convoy_add(store, convoy["id"], [extra["id"]], actor="human")["total"] == 3  # idempotent
    assert extra["id"] not in {r["id"] for r in store.ready()}  # staged: held back like the others
    assert code(archive.convoy_add, store, convoy["id"], [busy["id"]], actor="human") == ErrorCode.INVALID_STATE
    first = after["members"][0]["id"]
    after = archive.convoy_remove(store, convoy["id"], [first], actor="human")
    assert after["total"] == 2 and first not in {m["id"] for m in after["members"]}
    assert "convoy" not in store.bead_get(first)["metadata"]
    assert first in {r["id"] for r in store.ready()}  # an ordinary bead again
    store.convoy_start(convoy["id"], actor="human")
    assert code(archive.convoy_add, store, convoy["id"], [first], actor="human") == ErrorCode.INVALID_STATE
    assert code(archive.convoy_remove, store, convoy["id"], [extra["id"]], actor="human") == ErrorCode.INVALID_STATE


def test_migration_adds_archival_to_an_existing_v1_town() -> None:
    path = Path(tempfile.mkdtemp(prefix="gt-")) / "town.db"
    conn = apsw.Connection(str(path))
    conn.execute(schema.MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO beads(id, type, status, title, created_at, updated_at, closed_at) VALUES "
                 "('gt-old1', 'issue', 'closed', 'old', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', "
                 "'2020-01-01T00:00:00Z')")
    conn.close()
    s = Store(path, "gt")
    assert s.conn.execute("PRAGMA user_version").get == schema.LATEST >= 2
    assert s.bead_get("gt-old1")["archived_at"] is None
    archive.archive(s, ["gt-old1"], actor="human")
    assert s.bead_list() == []


def test_cli_archive_and_convoy_members(town: Path, tmp_path: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # no polecats: beads stay open
    bead = gtj("bead", "create", "to archive", "--rig", "app")[0]
    failed = run_gt("bead", "archive", bead["id"])
    assert failed.returncode == 5 and "still live" in failed.stderr and failed.stderr.count("\n") == 1
    run_gt("bead", "close", bead["id"], "--reason", "done", check=True)
    out = run_gt("bead", "archive", bead["id"], check=True).stdout
    assert f"archived {bead['id']}" in out
    assert bead["id"] not in {b["id"] for b in gtj("bead", "list")}
    assert [b["id"] for b in gtj("bead", "list", "--archived")] == [bead["id"]]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"title": "later", "beads": [{"id": "a", "title": "A", "rig": "app"}]}))
    convoy = gtj("sling", "--batch", str(plan), "--staged")[0]
    extra = gtj("bead", "create", "joins", "--rig", "app")[0]
    added = gtj("convoy", "add", convoy["id"], extra["id"])[0]
    assert added["total"] == 2
    removed = gtj("convoy", "remove", convoy["id"], extra["id"])[0]
    assert removed["total"] == 1
    bad = run_gt("convoy", "add", convoy["id"], "gt-nope")
    assert bad.returncode == 3 and bad.stderr.strip()
