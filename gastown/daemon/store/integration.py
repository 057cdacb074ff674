"""Convoys that land as one (`merge_mode = "integration"` in the batch plan).

Each member's merge request targets the convoy's integration branch
`gastown/convoy/<convoy id>` instead of the rig's branch: it has its own merge lane (convoys
merge in parallel), always merges directly (the refinery owns that branch), and a conflict with
another member is reworked like any other. Once every member is closed, one landing merge
request takes the integration branch onto the rig's branch — one merge, or one pull request
with the pr strategy — and the convoy closes (landed) when that merges. The landing merge
request is opened by `statuses` (a status change lands convoys); `landed` is called by
`merges.mr_merged`.
"""

from __future__ import annotations

from typing import Any

from gastown.daemon.store.db import Db
from gastown.model import EventType

PREFIX = "gastown/convoy/"
MODES = ("review-and-merge", "integration")


def branch_of(convoy_id: str) -> str:
    return PREFIX + convoy_id


def is_integration(db: Db, convoy_id: str) -> bool:
    row = db.one("SELECT merge_mode FROM convoys WHERE bead_id = ?", (convoy_id,))
    return row is not None and row["merge_mode"] == "integration"


def target_for(db: Db, bead: dict[str, Any]) -> str | None:
    """The branch a member's work merges into (None: the rig's own branch)."""
    convoy = (bead.get("metadata") or {}).get("convoy")
    return branch_of(convoy) if convoy and is_integration(db, convoy) else None


def landed(db: Db, mr: dict[str, Any]) -> None:
    """The landing merge request merged: the convoy has landed."""
    convoy_id = (mr.get("metadata") or {}).get("convoy_landing")
    if convoy_id:
        db.conn.execute("UPDATE convoys SET landed_at = ? WHERE bead_id = ? AND landed_at IS NULL",
                           (db.now(), convoy_id))
        db.event(convoy_id, EventType.CONVOY_LANDED, actor="refinery", meta={"mr": mr["id"],
                                                                          "merge_commit": mr.get("merge_commit")})
