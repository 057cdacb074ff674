"""`gt mq list` says what happened to a merge request: a merged one reads `merged`, one
closed without a merge (superseded, its source already done) reads `closed`; the
`merged` status filter finds exactly the merged ones. Real SQLite store."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gastown.daemon.store import Store


def _mr(store: Store, title: str) -> str:
    bead = store.bead_create(title, rig="app")["id"]
    agent, _ = store.dispatch_begin(bead, None, rig="app", adapter="scripted")
    store.turn_started(agent["name"], turn_dir=f"/t/{bead}", token_hash="x", worktree="/w", branch=f"gt/{bead}")
    mr = store.agent_done(agent["name"], summary="s", head_sha="abc", branch=f"gt/{bead}", target_branch="main",
                          commits=1)
    return str(mr["id"])


def test_a_merged_mr_reads_merged_and_an_unmerged_closed_one_closed() -> None:
    store = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt")
    store.rig_add("app", "/src", "main", "/x")
    merged, dropped, waiting = _mr(store, "a"), _mr(store, "b"), _mr(store, "c")
    store.mr_merged(merged, merge_commit="f00d" * 10, landed_on="main", gates=[], message="merged into main")
    store.transition(dropped, "closed", actor="refinery", reason="source bead is already closed")

    rows = {m["id"]: m for m in store.merge_requests()}
    assert {k: (m["status"], m["outcome"]) for k, m in rows.items()} == {
        merged: ("closed", "merged"), dropped: ("closed", "closed"), waiting: ("open", "open")}
    assert store.mr_get(merged)["outcome"] == "merged" and store.mr_get(dropped)["outcome"] == "closed"
    assert [m["id"] for m in store.merge_requests(status="merged")] == [merged]
    assert sorted(m["id"] for m in store.merge_requests(status="closed")) == sorted([merged, dropped])
