"""Convoys that land as one (`merge_mode = "integration"` in the batch plan).

Each member's merge request targets the convoy's integration branch
`gastown/convoy/<convoy id>` instead of the rig's branch: it has its own merge lane (convoys
merge in parallel), always merges directly (the refinery owns that branch), and a conflict with
another member is reworked like any other. Once every member is closed, one landing merge
request takes the integration branch onto the rig's branch — one merge, or one pull request
with the pr strategy — and the convoy closes (landed) when that merges. Free functions over the
town store, called inside its transactions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gastown.model import BeadStatus, BeadType, EventType

if TYPE_CHECKING:
    from gastown.daemon.convoys import ConvoyStore

PREFIX = "gastown/convoy/"
MODES = ("review-and-merge", "integration")


def branch_of(convoy_id: str) -> str:
    return PREFIX + convoy_id


def is_integration(store: "ConvoyStore", convoy_id: str) -> bool:
    row = store._one("SELECT merge_mode FROM convoys WHERE bead_id = ?", (convoy_id,))
    return row is not None and row["merge_mode"] == "integration"


def target_for(store: "ConvoyStore", bead: dict[str, Any]) -> str | None:
    """The branch a member's work merges into (None: the rig's own branch)."""
    convoy = (bead.get("metadata") or {}).get("convoy")
    return branch_of(convoy) if convoy and is_integration(store, convoy) else None


def open_landing(store: "ConvoyStore", convoy_id: str) -> bool:
    """Every member is in: the landing merge request (once). False when nothing was merged
    into the integration branch (the convoy then closes as usual)."""
    branch = branch_of(convoy_id)
    head = store._one(
        "SELECT m.merge_commit, m.rig FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
        "WHERE m.target_branch = ? AND b.status = 'closed' AND m.merge_commit IS NOT NULL "
        "ORDER BY b.updated_at DESC, m.rowid DESC LIMIT 1", (branch,))
    if head is None:
        return False
    active = store._one("SELECT m.bead_id FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
                        "WHERE m.source_bead_id = ? AND b.status != 'failed'", (convoy_id,))
    if active:
        return True
    convoy = store.bead_row(convoy_id)
    rig = store.rig_get(head["rig"])
    mr = store.bead_create(f"land convoy {convoy_id}: {convoy['title']}"[:200], type=BeadType.MERGE_REQUEST.value,
                           rig=rig["name"], body=f"The convoy {convoy_id} ({convoy['title']}), every member merged "
                           f"into {branch}.", created_by="refinery", requested_by=convoy["requested_by"],
                           priority=convoy["priority"], metadata={"source_bead_id": convoy_id,
                                                                  "head_sha": head["merge_commit"],
                                                                  "convoy_landing": convoy_id})
    store.conn.execute("INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (mr["id"], convoy_id, rig["name"], branch, rig["default_branch"], head["merge_commit"]))
    # no `tracks` link to the convoy: that would make the landing merge request a member
    store._set_status(convoy, BeadStatus.IN_REVIEW, actor="refinery", reason=f"every member is in {branch}: "
                      f"landing as {mr['id']}")
    store._event(convoy_id, EventType.CONVOY_LANDING, actor="refinery", new=mr["id"], meta={"head": head["merge_commit"]})
    return True


def landed(store: "ConvoyStore", mr: dict[str, Any]) -> None:
    """The landing merge request merged: the convoy has landed."""
    convoy_id = (mr.get("metadata") or {}).get("convoy_landing")
    if convoy_id:
        store.conn.execute("UPDATE convoys SET landed_at = ? WHERE bead_id = ? AND landed_at IS NULL",
                           (store.now(), convoy_id))
        store._event(convoy_id, EventType.CONVOY_LANDED, actor="refinery", meta={"mr": mr["id"],
                                                                          "merge_commit": mr.get("merge_commit")})
