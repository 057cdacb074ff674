"""Bring work in from other tools and give it back: beads JSONL import and export.

Import is one transaction: the whole file is parsed and checked first (a bad line names its
number and nothing is written), then every issue becomes (or updates) a bead. Ids are kept;
an id already used by an unrelated bead gets a fresh Gastown id and the mapping is recorded
(`metadata.beads.id`), so an export gives the original id back. A content fingerprint per
issue makes a second import of the same file change nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from gastown import beadsfmt
from gastown.beadsfmt import BLOCKING, FormatError, Issue
from gastown.daemon.store import holds, readiness
from gastown.daemon.store.beads import add_label, bead_count, bead_get, bead_row, note_created
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.rigs import rig_get
from gastown.daemon.store.statuses import set_status
from gastown.model import EventType
from gastown.protocol import ErrorCode, RpcError

HOLD_BY = "beads import"
PAGE_BYTES = 512 << 10


def _fingerprint(issue: Issue, rig: str | None) -> str:
    data = json.dumps([issue.__dict__, rig], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _known(db: Db) -> dict[str, tuple[str, str | None]]:
    """beads id -> (gastown id, fingerprint) of everything imported before."""
    return {r[0]: (r[1], r[2]) for r in db.conn.execute(
        "SELECT json_extract(metadata, '$.beads.id'), id, json_extract(metadata, '$.beads.sha') FROM beads "
        "WHERE json_extract(metadata, '$.beads.id') IS NOT NULL")}


def import_text(db: Db, text: str, *, rig: str | None, actor: str | None) -> Row:
    """Parse, check and import a whole beads file; all or nothing."""
    try:
        parsed = beadsfmt.parse(text)
    except FormatError as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, str(exc)) from None
    gone = {i.id for i in parsed if i.status == "tombstone"}  # soft-deleted in beads: not work
    issues = [i for i in parsed if i.id not in gone]
    if rig is not None:
        rig_get(db, rig)
    with db.conn:
        known = _known(db)
        try:
            beadsfmt.check_graph(issues, set(known) | gone)
        except FormatError as exc:
            raise RpcError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        id_of, mapped = _assign_ids(db, issues, known)
        now = datetime.now(timezone.utc)
        created = updated = 0
        changed: list[Issue] = []
        for issue in issues:
            sha = _fingerprint(issue, rig)
            if issue.id in known:
                if known[issue.id][1] == sha:
                    continue
                _update(db, issue, id_of[issue.id], rig, sha, actor)
                updated += 1
            else:
                _insert(db, issue, id_of[issue.id], rig, sha, actor)
                created += 1
            changed.append(issue)
        ours = set(id_of.values())
        for issue in changed:
            _link(db, issue, id_of, ours)
            _hold_state(db, issue, id_of[issue.id], now)
    return {"id": "import", "created": created, "updated": updated, "unchanged": len(issues) - created - updated,
            "mapped": mapped, "total": len(issues), "skipped": sorted(gone)}


def _assign_ids(db: Db, issues: list[Issue], known: dict[str, tuple[str, str | None]]) -> tuple[dict[str, str], dict[str, str]]:
    from gastown.daemon.store import ids

    id_of = {b: g for b, (g, _) in known.items()}
    mapped: dict[str, str] = {}
    for issue in issues:
        if issue.id in id_of:
            continue
        if db.conn.execute("SELECT 1 FROM beads WHERE id = ?", (issue.id,)).get:
            new = ids.new_id(db.prefix, f"beads|{issue.id}", bead_count(db) + len(mapped) + 1,
                             lambda c: bool(db.conn.execute("SELECT 1 FROM beads WHERE id = ?", (c,)).get))
            mapped[issue.id] = new
            id_of[issue.id] = new
        else:
            id_of[issue.id] = issue.id
    return id_of, mapped


def _meta(issue: Issue, sha: str, old: dict[str, Any] | None = None) -> str:
    meta = {k: v for k, v in (old or {}).items() if k != "beads"}
    meta["beads"] = {**beadsfmt.beads_meta(issue), "sha": sha}
    return json.dumps(meta)


def _insert(db: Db, issue: Issue, bead_id: str, rig: str | None, sha: str, actor: str | None) -> None:
    now = db.now()
    closed = issue.status == "closed"
    db.conn.execute(
        "INSERT INTO beads(id, type, status, title, body, rig, priority, metadata, created_by, requested_by, "
        "created_at, updated_at, closed_at, close_reason) VALUES (?, 'issue', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (bead_id, "closed" if closed else "open", issue.title, issue.description, rig, issue.priority,
         _meta(issue, sha), actor, actor, issue.created_at or now, issue.updated_at or now,
         (issue.closed_at or now) if closed else None, (issue.close_reason or None) if closed else None))
    note_created(db)
    for label in issue.labels:
        add_label(db, bead_id, label)
    db.event(bead_id, EventType.IMPORTED, actor=actor, new="closed" if closed else "open",
             meta={"from": "beads", "beads_id": issue.id, "title": issue.title})


def _update(db: Db, issue: Issue, bead_id: str, rig: str | None, sha: str, actor: str | None) -> None:
    bead = bead_row(db, bead_id)
    db.conn.execute("UPDATE beads SET title = ?, body = ?, priority = ?, rig = coalesce(?, rig), metadata = ?, "
                    "updated_at = ? WHERE id = ?",
                    (issue.title, issue.description, issue.priority, rig, _meta(issue, sha, bead["metadata"]),
                     db.now(), bead_id))
    db.conn.execute("DELETE FROM bead_labels WHERE bead_id = ? AND label NOT LIKE 'gt:%'", (bead_id,))
    for label in issue.labels:
        add_label(db, bead_id, label)
    want = "closed" if issue.status == "closed" else "open"
    if bead["status"] != want and (want == "closed" or bead["status"] in ("closed", "failed")):
        set_status(db, bead_row(db, bead_id), want, actor=actor, reason="beads import",
                   reopen=want == "open")
    db.event(bead_id, EventType.IMPORTED, actor=actor, meta={"from": "beads", "beads_id": issue.id, "update": True})


def _link(db: Db, issue: Issue, id_of: dict[str, str], ours: set[str]) -> None:
    """Parent and blocking dependencies, replacing what an earlier import of it set."""
    bead_id = id_of[issue.id]
    db.conn.execute("DELETE FROM bead_dependencies WHERE bead_id = ? AND type IN ('blocks', 'parent-child')",
                    (bead_id,))
    db.conn.execute("UPDATE beads SET parent = NULL WHERE id = ?", (bead_id,))
    for target, kind in issue.deps:
        if kind not in BLOCKING and kind != "parent-child":
            continue
        dep = id_of.get(target, target)
        if dep not in ours and not db.conn.execute("SELECT 1 FROM beads WHERE id = ?", (dep,)).get:
            continue  # a tombstoned (skipped) issue
        if dep not in ours and readiness.path(db.conn, dep, bead_id):
            raise RpcError(ErrorCode.CONFLICT, f"{issue.id}: depending on {target} would make a cycle")
        gt_kind = "parent-child" if kind == "parent-child" else "blocks"
        if gt_kind == "parent-child":
            db.conn.execute("UPDATE beads SET parent = ? WHERE id = ?", (dep, bead_id))
        db.conn.execute("INSERT OR IGNORE INTO bead_dependencies(bead_id, depends_on, type, created_at) "
                        "VALUES (?, ?, ?, ?)", (bead_id, dep, gt_kind, db.now()))


def _hold_state(db: Db, issue: Issue, bead_id: str, now: datetime) -> None:
    """Open issues beads would not call ready are held; an import that clears that releases
    only the holds an import made."""
    reason = beadsfmt.held_reason(issue, now) if issue.status != "closed" else None
    held = holds.is_held(db, bead_id)
    if reason and not held:
        holds.mark_held(db, bead_id, reason=reason, actor=HOLD_BY)
    elif not reason and held:
        bead = bead_row(db, bead_id)
        if (bead["metadata"].get("hold") or {}).get("by") == HOLD_BY:
            holds.unmark(db, bead, HOLD_BY)


# ------------------------------------------------------------------ export
def export_page(db: Db, *, rig: str | None, offset: int, limit: int) -> Row:
    """Issue beads as beads lines, oldest first, one page (the CLI pages until done)."""
    where, args = ("AND rig = ?", [rig]) if rig else ("", [])
    rows = list(db.conn.execute(
        f"SELECT id FROM beads WHERE type = 'issue' {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
        (*args, limit + 1, offset)))
    page = [r[0] for r in rows[:limit]]
    id_of = {r[0]: r[1] for r in db.conn.execute(
        "SELECT id, json_extract(metadata, '$.beads.id') FROM beads WHERE json_extract(metadata, '$.beads.id') "
        "IS NOT NULL")}
    lines: list[str] = []
    size = 0
    for n, bead_id in enumerate(page):
        if lines and size > PAGE_BYTES:  # a page never outgrows a frame, whatever the bodies
            return {"lines": lines, "next_offset": offset + n}
        bead = bead_get(db, bead_id)
        bead["held"] = holds.is_held(db, bead_id)
        deps = [(r[0], r[1]) for r in db.conn.execute(
            "SELECT depends_on, type FROM bead_dependencies WHERE bead_id = ? AND type IN ('blocks', 'parent-child') "
            "ORDER BY depends_on", (bead_id,))]
        lines.append(beadsfmt.export_line(bead, deps, id_of))
        size += len(lines[-1].encode())
    return {"lines": lines, "next_offset": offset + limit if len(rows) > limit else None}

