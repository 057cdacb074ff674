"""Beads: create, read, list, edit fields and labels. Status changes are not here: they go
through `statuses.set_status`, the one function that also writes the event."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Iterable

from gastown.daemon.store import ids
from gastown.daemon.store.db import Db, Row, not_found
from gastown.daemon.store.links import link
from gastown.daemon.store.rigs import rig_get
from gastown.model import BeadType, DepType, EventType
from gastown.protocol import ErrorCode, RpcError

MAX_BODY = 100_000
"""Largest bead body (characters): bigger text belongs in the repository, not the store."""
MAX_FILTER = 200
"""Longest `text` filter of a listing (SQLite refuses LIKE patterns past ~50 KB anyway)."""
PAGE_BYTES = 512 * 1024
"""A listing page ends early once its rows reach about this many bytes, so it always fits
one frame (MAX_FRAME); callers page on with `offset + len(page)`."""
_RANDOM_PART = re.compile(r"^[0-9a-z]+$")

BEAD_COLUMNS = (
    "id, type, status, title, body, rig, parent, assignee, priority, metadata, created_by, "
    "requested_by, created_at, updated_at, closed_at, close_reason, failure_reason, dispatch_attempts, last_dispatch_at, "
    "archived_at"
)
_LABELS = "(SELECT json_group_array(label) FROM bead_labels l WHERE l.bead_id = beads.id) AS labels"


def resolve(db: Db, key: str) -> str:
    """A full id from the full id, or an unambiguous prefix of its random part (with or
    without the town prefix): `fx-a1`, `a1`. Anything else (blank, the town prefix
    alone, `fx-`) is not found: a typo must never select the town's only bead."""
    key = key.strip().lower()
    head = f"{db.prefix}-"
    part = key[len(head):] if key.startswith(head) else key
    if db.conn.execute("SELECT 1 FROM beads WHERE id = ?", (key,)).get:
        return key
    if not part or len(part) > ids.MAX_LEN or not _RANDOM_PART.match(part):
        raise not_found("bead", key[:100])
    cand = head + part
    hits = [str(r[0]) for r in db.conn.execute(
        "SELECT id FROM beads WHERE id >= ? AND id < ? ORDER BY id LIMIT 3", (cand, cand + "\uffff"))]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"bead id '{key}' is ambiguous: {', '.join(hits)} ...")
    raise not_found("bead", key)


def bead_create(
    db: Db,
    title: str,
    *,
    type: str = BeadType.ISSUE.value,
    body: str = "",
    rig: str | None = None,
    parent: str | None = None,
    priority: int = 2,
    labels: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
    created_by: str | None = None,
    requested_by: str | None = None,
    depends_on: Iterable[str] = (),
) -> Row:
    title = title.strip()
    _check_title(title)
    _check_body(body)
    _check_priority(priority)
    BeadType(type)
    with db.conn:
        if rig is not None:
            rig_get(db, rig)
        parent_id = resolve(db, parent) if parent else None
        deps = [resolve(db, d) for d in depends_on]
        now = db.now()
        seed = f"{title}|{body}|{created_by}|{time.time_ns()}"
        bead_id = ids.new_id(db.prefix, seed, db.bead_total + 1, lambda i: bead_exists(db, i))
        db.conn.execute(
            "INSERT INTO beads(id, type, title, body, rig, parent, priority, metadata, created_by, "
            "requested_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (bead_id, type, title, body, rig, parent_id, priority, json.dumps(metadata or {}),
             created_by, requested_by, now, now),
        )
        db.bead_total += 1
        for label in labels:
            add_label(db, bead_id, label)
        db.event(bead_id, EventType.CREATED, actor=created_by, new="open", meta={"type": type, "title": title})
        if parent_id:
            link(db, bead_id, parent_id, DepType.PARENT_CHILD, created_by)
        for dep in deps:
            link(db, bead_id, dep, DepType.BLOCKS, created_by)
    return bead_get(db, bead_id)


def bead_count(db: Db) -> int:
    return db.bead_total


def note_created(db: Db, n: int = 1) -> None:
    """Beads inserted by the importer count for ids."""
    db.bead_total += n


def bead_exists(db: Db, bead_id: str) -> bool:
    return bool(db.conn.execute("SELECT 1 FROM beads WHERE id = ?", (bead_id,)).get)


def add_label(db: Db, bead_id: str, label: str) -> None:
    label = label.strip()
    if not label or len(label) > 100:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"invalid label '{label}'")
    db.conn.execute("INSERT OR IGNORE INTO bead_labels(bead_id, label) VALUES (?, ?)", (bead_id, label))


def bead_row(db: Db, bead_id: str) -> Row:
    row = db.one(f"SELECT {BEAD_COLUMNS}, {_LABELS} FROM beads WHERE id = ?", (bead_id,))
    if row is None:
        raise not_found("bead", bead_id)
    return decode(row)


def bead_get(db: Db, key: str) -> Row:
    """A bead with its labels and its dependencies both ways (the agents' hot read path:
    an exact id skips resolution, and both directions come from one query)."""
    row = db.one(f"SELECT {BEAD_COLUMNS}, {_LABELS} FROM beads WHERE id = ?", (key,))
    bead = decode(row) if row is not None else bead_row(db, resolve(db, key))
    bead["depends_on"], bead["dependents"] = [], []
    for way, dep_id, dep_type, status, title, _ in db.conn.execute(
            "SELECT 'depends_on', d.depends_on, d.type, b.status, b.title, d.created_at FROM bead_dependencies d "
            "JOIN beads b ON b.id = d.depends_on WHERE d.bead_id = ?1 UNION ALL "
            "SELECT 'dependents', d.bead_id, d.type, b.status, b.title, d.created_at FROM bead_dependencies d "
            "JOIN beads b ON b.id = d.bead_id WHERE d.depends_on = ?1 ORDER BY 6", (bead["id"],)):
        bead[way].append({"id": dep_id, "type": dep_type, "status": status, "title": title})
    return bead


def bead_list(
    db: Db,
    *,
    status: str | None = None,
    type: str | None = None,
    rig: str | None = None,
    label: str | None = None,
    assignee: str | None = None,
    parent: str | None = None,
    limit: int = 200,
    offset: int = 0,
    newest_first: bool = False,
    text: str | None = None,
    brief: bool = False,
    archived: bool = False,
) -> list[Row]:
    """Beads, oldest first (or newest first), paged with limit/offset; `text` matches the
    title or id; `brief` leaves out the body (a board of thousands fits one frame);
    `archived` lists the archived beads instead of the live ones."""
    where: list[str] = ["archived_at IS NOT NULL" if archived else "archived_at IS NULL"]
    args: list[Any] = []
    for col, val in (("status", status), ("type", type), ("rig", rig), ("assignee", assignee)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if parent is not None:
        where.append("parent = ?")
        args.append(resolve(db, parent))
    if label is not None:
        where.append("id IN (SELECT bead_id FROM bead_labels WHERE label = ?)")
        args.append(label)
    if text is not None and len(text) > MAX_FILTER:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"a text filter has at most {MAX_FILTER} characters")
    if text:
        where.append("(title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args += [pattern, pattern]
    columns = BEAD_COLUMNS.replace("body, ", "'' AS body, ") if brief else BEAD_COLUMNS
    sql = f"SELECT {columns}, {_LABELS} FROM beads"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, id DESC" if newest_first else " ORDER BY created_at, id"
    if limit > 0 or offset > 0:
        sql += f" LIMIT {int(limit) if limit > 0 else -1} OFFSET {max(0, int(offset))}"
    page: list[Row] = []
    size = 0
    for row in db.rows(sql, args):  # paged by size too: a page always fits one frame
        size += 200 + len(row["title"]) + len(row["body"] or "") + len(row["metadata"] or "")
        if page and size > PAGE_BYTES:
            break
        page.append(decode(row))
    return page


def bead_update(
    db: Db,
    key: str,
    *,
    actor: str | None = None,
    title: str | None = None,
    body: str | None = None,
    priority: int | None = None,
    rig: str | None = None,
    assignee: str | None = None,
    add_labels: Iterable[str] = (),
    remove_labels: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
) -> Row:
    """Change fields (not the status: that has its own verbs). Records one fields_updated event."""
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        changes: dict[str, Any] = {}
        if title is not None:
            _check_title(title.strip())
            changes["title"] = title.strip()
        if body is not None:
            _check_body(body)
            changes["body"] = body
        if priority is not None:
            _check_priority(priority)
            changes["priority"] = priority
        if rig is not None:
            rig_get(db, rig)
            changes["rig"] = rig
        if assignee is not None:
            changes["assignee"] = assignee or None
        if metadata:
            merged = {**bead["metadata"], **metadata}
            changes["metadata"] = json.dumps({k: v for k, v in merged.items() if v is not None})
        changed = {k: v for k, v in changes.items() if bead.get(k) != v}
        for label in add_labels:
            add_label(db, bead["id"], label)
        for label in remove_labels:
            db.conn.execute("DELETE FROM bead_labels WHERE bead_id = ? AND label = ?", (bead["id"], label))
        touched = list(changed) + (["labels"] if add_labels or remove_labels else [])
        if not touched:
            return bead_get(db, bead["id"])
        sets = ", ".join(f"{k} = ?" for k in changed)
        db.conn.execute(
            f"UPDATE beads SET {sets + ', ' if sets else ''}updated_at = ? WHERE id = ?",
            (*changed.values(), db.now(), bead["id"]),
        )
        db.event(bead["id"], EventType.FIELDS_UPDATED, actor=actor, meta={"fields": touched})
    return bead_get(db, bead["id"])


def _check_title(title: str) -> None:
    if not title or len(title) > 500:
        raise RpcError(ErrorCode.INVALID_PARAMS, "a title must have 1 to 500 characters")
    if "\x00" in title:
        raise RpcError(ErrorCode.INVALID_PARAMS, "a title may not contain NUL characters")


def _check_body(body: str) -> None:
    if len(body) > MAX_BODY:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"a body has at most {MAX_BODY} characters, not {len(body)}")


def _check_priority(priority: int) -> None:
    if not isinstance(priority, int) or not 0 <= priority <= 4:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"priority must be 0 to 4, not {priority!r}")


def decode(row: Row) -> Row:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    if "labels" in row:
        row["labels"] = sorted(json.loads(row["labels"])) if row["labels"] else []
    row["failure_reason"] = json.loads(row["failure_reason"]) if row.get("failure_reason") else None
    return row
