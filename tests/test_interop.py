"""beads JSONL interop: the format's checks, the import (atomic, idempotent, ids kept or
mapped), the export round trip, and `gt ready` against beads' own ready rule."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gastown import beadsfmt
from gastown.daemon.store import interop, readiness
from gastown.daemon.store import Store
from gastown.protocol import ErrorCode, RpcError
from tests.conftest import run_gt
from tests.helpers import gtj

FIXTURE = Path(__file__).parent / "fixtures" / "beads-issues.jsonl"
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt")
    s.rig_add("app", "/src", "main", "/x")
    return s


def essentials(lines: list[str]) -> dict[str, Any]:
    """What a round trip must keep: ids, statuses, labels, dependencies with their types."""
    out = {}
    for line in lines:
        o = json.loads(line)
        out[o["id"]] = (o.get("status", "open"), o.get("priority", 2), o.get("issue_type", "task"),
                        sorted(o.get("labels") or []), o.get("assignee") or "",
                        sorted((d["depends_on_id"], d.get("type", "blocks")) for d in o.get("dependencies") or []))
    return out


def export_all(store: Store, rig: str | None = None) -> list[str]:
    lines: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = interop.export_page(store, rig=rig, offset=offset, limit=4)
        lines += page["lines"]
        offset = page["next_offset"]
    return lines


# ----------------------------------------------------------------- the format
@pytest.mark.parametrize("line,message", [
    ('{"id": "x-1"}', "line 1 (x-1): missing 'title'"),
    ('{"title": "no id"}', "line 1: missing 'id'"),
    ('not json', "line 1: not JSON"),
    ('[1, 2]', "line 1: not a JSON object"),
    ('{"id": "x-1", "title": "t", "status": "done"}', "unknown status 'done'"),
    ('{"id": "x-1", "title": "t", "priority": 9}', "'priority' must be a whole number from 0 to 4"),
    ('{"id": "x-1", "title": "t", "dependencies": [{"type": "blocks"}]}', "needs a 'depends_on_id'"),
    ('{"id": "x-1", "title": "t", "dependencies": [{"depends_on_id": "x-1"}]}', "depends on itself"),
    ('{"id": "x-1", "title": "t", "created_at": "yesterday"}', "'created_at' is not an ISO 8601 time"),
    ('[' * 5000 + ']' * 5000, "line 1: not"),
])
def test_bad_lines_name_their_number(line: str, message: str) -> None:
    with pytest.raises(beadsfmt.FormatError) as exc:
        beadsfmt.parse(line)
    assert message in str(exc.value)


def test_cycles_and_unknown_targets_are_refused() -> None:
    a = beadsfmt.parse_line('{"id":"a","title":"A","dependencies":[{"depends_on_id":"b"}]}', 1)
    b = beadsfmt.parse_line('{"id":"b","title":"B","dependencies":[{"depends_on_id":"a","type":"waits-for"}]}', 2)
    with pytest.raises(beadsfmt.FormatError, match="dependency cycle: a -> b -> a"):
        beadsfmt.check_graph([a, b], set())
    c = beadsfmt.parse_line('{"id":"c","title":"C","dependencies":[{"depends_on_id":"zz"}]}', 1)
    with pytest.raises(beadsfmt.FormatError, match="unknown issue 'zz'"):
        beadsfmt.check_graph([c], set())
    beadsfmt.check_graph([c], {"zz"})  # a target imported before is fine
    loose = beadsfmt.parse_line('{"id":"d","title":"D","dependencies":[{"depends_on_id":"zz","type":"related"}]}', 1)
    beadsfmt.check_graph([loose], set())  # a link to something elsewhere never blocks


# -------------------------------------------------------------------- import
def test_import_keeps_ids_and_a_round_trip_keeps_everything(store: Store) -> None:
    text = FIXTURE.read_text()
    result = interop.import_text(store, text, rig="app", actor="Ann <a@x>")
    assert (result["created"], result["updated"], result["unchanged"]) == (11, 0, 0)
    assert store.bead_get("bd-a2")["parent"] == "bd-e1" and store.bead_get("bd-a2")["rig"] == "app"
    assert store.bead_get("bd-a1")["status"] == "closed" and store.bead_get("bd-a1")["closed_at"]
    assert "gt:held" in store.bead_get("bd-c1")["labels"]  # in_progress elsewhere: never dispatched here
    assert essentials(export_all(store)) == essentials(text.splitlines())


def test_importing_the_same_file_twice_changes_nothing(store: Store) -> None:
    text = FIXTURE.read_text()
    interop.import_text(store, text, rig=None, actor="a")
    seq = store.conn.execute("SELECT max(seq) FROM bead_events").get
    again = interop.import_text(store, text, rig=None, actor="a")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 11)
    assert store.conn.execute("SELECT max(seq) FROM bead_events").get == seq  # not one event
    edited = text.replace('"title":"Write the migration guide"', '"title":"Write the operators guide"')
    third = interop.import_text(store, edited.replace('"status":"deferred"', '"status":"open"'), rig=None, actor="a")
    assert (third["created"], third["updated"]) == (0, 2)
    assert store.bead_get("bd-d1")["title"] == "Write the operators guide"
    assert "gt:held" not in store.bead_get("bd-c2")["labels"]  # the import's own hold is released


def test_a_bad_line_imports_nothing(store: Store) -> None:
    lines = FIXTURE.read_text().splitlines()
    lines.insert(3, '{"id": "bd-zz", "title": ""}')
    with pytest.raises(RpcError) as exc:
        interop.import_text(store, "\n".join(lines), rig=None, actor="a")
    assert exc.value.code == ErrorCode.INVALID_PARAMS and exc.value.message.startswith("line 4 (bd-zz)")
    assert store.conn.execute("SELECT count(*) FROM beads WHERE type = 'issue'").get == 0


def test_a_taken_id_is_mapped_and_exported_back(store: Store) -> None:
    mine = store.bead_create("already here")["id"]
    line = json.dumps({"id": mine, "title": "from beads", "labels": ["x"]})
    result = interop.import_text(store, line, rig=None, actor="a")
    ours = result["mapped"][mine]
    assert ours != mine and store.bead_get(ours)["title"] == "from beads"
    assert store.bead_get(mine)["title"] == "already here"
    exported = [json.loads(x) for x in export_all(store)]
    assert [o["id"] for o in exported if o["title"] == "from beads"] == [mine]
    assert interop.import_text(store, line, rig=None, actor="a")["unchanged"] == 1  # the mapping holds


def test_gt_ready_agrees_with_beads_ready_rule(store: Store) -> None:
    issues = beadsfmt.parse(FIXTURE.read_text())
    interop.import_text(store, FIXTURE.read_text(), rig="app", actor="a")
    theirs = beadsfmt.ready(issues, NOW)
    ours = set(readiness.ready_ids(store.conn, limit=0))
    assert theirs == {"bd-e1", "bd-a2", "bd-b1", "bd-b2", "bd-d1"}
    # the one deliberate difference: an epic with open children is done when they are, so
    # Gastown never hands it to an agent (beads lists it as ready)
    assert ours == theirs - {"bd-e1"}


# ---------------------------------------------------------------- end to end
@pytest.mark.slow
def test_import_and_export_through_gt(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # nothing dispatches: compare lists
    res = run_gt("bead", "import", str(FIXTURE), "--rig", "app", "--json", check=True)
    assert json.loads(res.stdout)["created"] == 11
    again = run_gt("bead", "import", str(FIXTURE), "--rig", "app", check=True)
    assert "0 new, 0 updated, 11 unchanged" in again.stdout
    exported = run_gt("bead", "export", "--rig", "app", check=True).stdout.splitlines()
    assert essentials(exported) == essentials(FIXTURE.read_text().splitlines())
    assert {b["id"] for b in gtj("ready")} == {"bd-a2", "bd-b1", "bd-b2", "bd-d1"}
    bad = gt_home / "bad.jsonl"
    bad.write_text('{"id":"x-1","title":"ok"}\n{"id":"x-2"}\n')
    res = run_gt("bead", "import", str(bad))
    assert res.returncode == 2 and res.stderr.strip() == "gt: line 2 (x-2): missing 'title'"
    assert "x-1" not in run_gt("bead", "export", check=True).stdout


def test_tombstones_are_skipped_with_the_dependencies_on_them(store: Store) -> None:
    text = "\n".join([json.dumps({"id": "t-1", "title": "gone", "status": "tombstone"}),
                      json.dumps({"id": "t-2", "title": "stays", "dependencies": [{"depends_on_id": "t-1"}]})])
    result = interop.import_text(store, text, rig=None, actor="a")
    assert result["skipped"] == ["t-1"] and result["created"] == 1
    assert store.bead_get("t-2")["status"] == "open" and set(readiness.ready_ids(store.conn)) == {"t-2"}
    with pytest.raises(RpcError):
        store.bead_get("t-1")
