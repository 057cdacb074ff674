"""Beads imported from a forge's issues (`metadata.issue`), and telling each issue when its
bead landed: the bookkeeping of `gastown.daemon.issuesync`."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.beads import bead_create
from gastown.daemon.store.db import Db, Row
from gastown.model import EventType


def issues_add(db: Db, issues: list[dict[str, Any]], *, rig: str, actor: str | None) -> list[str]:
    """One transaction: a bead per issue (`title`, `body`, `labels`, `issue`: its metadata
    with the `url`) whose url was not imported before. Returns the new bead ids."""
    with db.conn:
        known = {r[0] for r in db.conn.execute(
            "SELECT json_extract(metadata, '$.issue.url') FROM beads WHERE json_extract(metadata, '$.issue.url') "
            "IS NOT NULL")}
        created = []
        for issue in issues:
            if issue["issue"]["url"] in known:
                continue
            bead = bead_create(db, issue["title"], rig=rig, body=issue["body"], labels=issue["labels"],
                               metadata={"issue": issue["issue"]}, created_by=actor, requested_by=actor)
            created.append(bead["id"])
    return created


def landed_unannounced(db: Db) -> list[Row]:
    """Beads from an issue that merged and whose issue was not told yet."""
    rows = db.conn.execute(
        "SELECT b.id, b.rig, b.metadata, (SELECT e.new_value || '|' || coalesce(json_extract(e.metadata, "
        "'$.landed_on'), '') FROM bead_events e WHERE e.bead_id = b.id AND e.event_type = 'merged' "
        "ORDER BY e.seq DESC LIMIT 1) FROM beads b WHERE b.status = 'closed' "
        "AND json_extract(b.metadata, '$.issue.url') IS NOT NULL "
        "AND json_extract(b.metadata, '$.issue.announced') IS NULL").fetchall()
    out = []
    for bead_id, rig, meta, merged in rows:
        if merged:
            sha, _, branch = str(merged).partition("|")
            out.append({"id": bead_id, "rig": rig, "issue": json.loads(str(meta))["issue"], "sha": sha,
                        "branch": branch})
    return out


def _issue_meta(db: Db, bead_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(db.conn.execute("SELECT metadata FROM beads WHERE id = ?", (bead_id,)).get
                                      or "{}")
    return meta


def issue_mark(db: Db, bead_id: str, state: str) -> None:
    """Record intent (`posting`) before telling the issue, and `posted` after."""
    with db.conn:
        meta = _issue_meta(db, bead_id)
        meta.setdefault("issue", {})["announced"] = state
        db.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?", (json.dumps(meta), bead_id))
        db.event(bead_id, EventType.ISSUE_ANNOUNCED if state == "posted" else EventType.ISSUE_ANNOUNCING,
                 actor="gastown", new=state, meta={"url": meta["issue"].get("url")})


def issue_unmark(db: Db, bead_id: str) -> None:
    """A forge error: nothing was posted, so the announcement stays pending."""
    with db.conn:
        meta = _issue_meta(db, bead_id)
        meta.get("issue", {}).pop("announced", None)
        db.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?", (json.dumps(meta), bead_id))
