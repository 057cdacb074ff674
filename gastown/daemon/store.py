"""The town store: one apsw connection to `town.db`, used from one writer thread.

Every public method is one short named transaction (BEGIN IMMEDIATE) and is synchronous,
so it can be unit-tested without asyncio; the daemon runs them on the town's executor.
Every bead status change goes through `_set_status`, which also writes the event: there
is no side path that changes a status without the audit log (cloud #962).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import apsw
import apsw.bestpractice

from gastown.daemon import ids, readiness, schema
from gastown.model import BeadStatus, BeadType, DepType, bead_transition_allowed, EventType
from gastown.protocol import ErrorCode, RpcError

_APSW_READY = False


def _apsw_best_practice() -> None:
    """apsw's recommended setup (WAL, foreign keys, …) once per process, when the first store
    opens, not as a side effect of importing this module."""
    global _APSW_READY
    if not _APSW_READY:
        apsw.bestpractice.apply(apsw.bestpractice.recommended)
        _APSW_READY = True


Clock = Callable[[], datetime]
Row = dict[str, Any]

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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """The one timestamp format of the store (cloud #1412: never mix two)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def not_found(what: str, key: str) -> RpcError:
    return RpcError(ErrorCode.NOT_FOUND, f"no {what} '{key}'")


class TownStore:
    """All persistent state of one town."""

    def __init__(self, path: Path, prefix: str, clock: Clock = utcnow, *, read_only: bool = False) -> None:
        self.path = path
        self.prefix = prefix
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        _apsw_best_practice()
        flags = apsw.SQLITE_OPEN_READONLY if read_only else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        self.conn = apsw.Connection(str(path), flags=flags)
        self.conn.set_busy_timeout(5000)
        self.conn.transaction_mode = "IMMEDIATE"
        if not read_only:
            self._migrate()
        self.last_seq: int = self.conn.execute("SELECT coalesce(max(seq), 0) FROM bead_events").get or 0
        self._bead_count: int = self.conn.execute("SELECT count(*) FROM beads").get or 0

    # ----------------------------------------------------------------- plumbing
    def _migrate(self) -> None:
        with self.conn:
            version = self.conn.execute("PRAGMA user_version").get or 0
            if version > schema.LATEST:
                raise RpcError(
                    ErrorCode.INVALID_STATE,
                    f"{self.path} has schema version {version}, newer than this gastown ({schema.LATEST}): upgrade gastown",
                )
            for step in range(version, schema.LATEST):
                self.conn.execute(schema.MIGRATIONS[step])
            self.conn.execute(f"PRAGMA user_version = {schema.LATEST}")
            self.conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA optimize")
        finally:
            self.conn.close()

    def now(self) -> str:
        return iso(self.clock())

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        cur = self.conn.execute(sql, tuple(args))
        names: list[str] | None = None
        for row in cur:
            if names is None:
                names = [d[0] for d in cur.get_description()]
            yield dict(zip(names, row))

    def _one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        return next(self._rows(sql, args), None)

    def _event(
        self,
        bead_id: str | None,
        event_type: str,
        *,
        actor: str | None = None,
        old: str | None = None,
        new: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        self.conn.execute(
            "INSERT INTO bead_events(bead_id, event_type, actor, old_value, new_value, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (bead_id, event_type, actor, old, new, json.dumps(meta or {}), self.now()),
        )
        self.last_seq = self.conn.last_insert_rowid()
        return self.last_seq

    def event(self, bead_id: str | None, event_type: str, *, actor: str | None = None, old: str | None = None,
              new: str | None = None, meta: dict[str, Any] | None = None) -> int:
        """Append an event for modules composed over the store (the ledger); the caller holds
        the transaction."""
        return self._event(bead_id, event_type, actor=actor, old=old, new=new, meta=meta)

    # --------------------------------------------------------------------- rigs
    def rig_add(self, name: str, source: str, default_branch: str, repo_path: str) -> Row:
        with self.conn:
            if self._one("SELECT name FROM rigs WHERE name = ?", (name,)):
                raise RpcError(ErrorCode.ALREADY_EXISTS, f"rig '{name}' already exists")
            self.conn.execute(
                "INSERT INTO rigs(name, source, default_branch, repo_path, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, source, default_branch, repo_path, self.now()),
            )
            self._event(None, EventType.RIG_ADDED, new=name, meta={"source": source, "branch": default_branch})
        return self.rig_get(name)

    def rig_get(self, name: str) -> Row:
        row = self._one("SELECT * FROM rigs WHERE name = ?", (name,))
        if row is None:
            raise not_found("rig", name)
        return row

    def rig_list(self) -> list[Row]:
        return list(self._rows("SELECT * FROM rigs ORDER BY name"))

    def rig_remove(self, name: str) -> Row:
        with self.conn:
            row = self.rig_get(name)
            busy = self.conn.execute(
                "SELECT count(*) FROM beads WHERE rig = ? AND status NOT IN ('closed', 'failed') AND type = 'issue'",
                (name,),
            ).get
            if busy:
                raise RpcError(
                    ErrorCode.INVALID_STATE,
                    f"rig '{name}' has {busy} unfinished bead(s): close or fail them first",
                )
            self.conn.execute("DELETE FROM rigs WHERE name = ?", (name,))
            self._event(None, EventType.RIG_REMOVED, old=name)
        return row

    # -------------------------------------------------------------------- beads
    def resolve(self, key: str) -> str:
        """A full id from the full id, or an unambiguous prefix of its random part (with or
        without the town prefix): `fx-a1`, `a1`. Anything else (blank, the town prefix
        alone, `fx-`) is not found: a typo must never select the town's only bead."""
        key = key.strip().lower()
        head = f"{self.prefix}-"
        part = key[len(head):] if key.startswith(head) else key
        if self.conn.execute("SELECT 1 FROM beads WHERE id = ?", (key,)).get:
            return key
        if not part or len(part) > ids.MAX_LEN or not _RANDOM_PART.match(part):
            raise not_found("bead", key[:100])
        cand = head + part
        hits = [str(r[0]) for r in self.conn.execute(
            "SELECT id FROM beads WHERE id >= ? AND id < ? ORDER BY id LIMIT 3", (cand, cand + "\uffff"))]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"bead id '{key}' is ambiguous: {', '.join(hits)} ...")
        raise not_found("bead", key)

    def bead_create(
        self,
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
        with self.conn:
            if rig is not None:
                self.rig_get(rig)
            parent_id = self.resolve(parent) if parent else None
            deps = [self.resolve(d) for d in depends_on]
            now = self.now()
            seed = f"{title}|{body}|{created_by}|{time.time_ns()}"
            bead_id = ids.new_id(self.prefix, seed, self._bead_count + 1, self._exists)
            self.conn.execute(
                "INSERT INTO beads(id, type, title, body, rig, parent, priority, metadata, created_by, "
                "requested_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (bead_id, type, title, body, rig, parent_id, priority, json.dumps(metadata or {}),
                 created_by, requested_by, now, now),
            )
            self._bead_count += 1
            for label in labels:
                self._add_label(bead_id, label)
            self._event(bead_id, EventType.CREATED, actor=created_by, new="open", meta={"type": type, "title": title})
            if parent_id:
                self._dep_insert(bead_id, parent_id, DepType.PARENT_CHILD, created_by)
            for dep in deps:
                self._dep_insert(bead_id, dep, DepType.BLOCKS, created_by)
        return self.bead_get(bead_id)

    def bead_count(self) -> int:
        return self._bead_count

    def note_created(self, n: int = 1) -> None:
        """Beads inserted by a module composed over the store (the importer) count for ids."""
        self._bead_count += n

    def add_label(self, bead_id: str, label: str) -> None:
        self._add_label(bead_id, label)

    def set_status(self, bead: Row, new: str, *, actor: str | None, reason: str | None = None,
                   reopen: bool = False) -> bool:
        """The public face of `_set_status` for composed modules; the caller holds the transaction."""
        return self._set_status(bead, BeadStatus(new), actor=actor, reason=reason, reopen=reopen)

    def _exists(self, bead_id: str) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM beads WHERE id = ?", (bead_id,)).get)

    def _add_label(self, bead_id: str, label: str) -> None:
        label = label.strip()
        if not label or len(label) > 100:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"invalid label '{label}'")
        self.conn.execute("INSERT OR IGNORE INTO bead_labels(bead_id, label) VALUES (?, ?)", (bead_id, label))

    def bead_row(self, bead_id: str) -> Row:
        row = self._one(f"SELECT {BEAD_COLUMNS}, {_LABELS} FROM beads WHERE id = ?", (bead_id,))
        if row is None:
            raise not_found("bead", bead_id)
        return _decode(row)

    def bead_get(self, key: str) -> Row:
        """A bead with its labels and its dependencies both ways (the agents' hot read path:
        an exact id skips resolution, and both directions come from one query)."""
        row = self._one(f"SELECT {BEAD_COLUMNS}, {_LABELS} FROM beads WHERE id = ?", (key,))
        bead = _decode(row) if row is not None else self.bead_row(self.resolve(key))
        bead["depends_on"], bead["dependents"] = [], []
        for way, dep_id, dep_type, status, title, _ in self.conn.execute(
                "SELECT 'depends_on', d.depends_on, d.type, b.status, b.title, d.created_at FROM bead_dependencies d "
                "JOIN beads b ON b.id = d.depends_on WHERE d.bead_id = ?1 UNION ALL "
                "SELECT 'dependents', d.bead_id, d.type, b.status, b.title, d.created_at FROM bead_dependencies d "
                "JOIN beads b ON b.id = d.bead_id WHERE d.depends_on = ?1 ORDER BY 6", (bead["id"],)):
            bead[way].append({"id": dep_id, "type": dep_type, "status": status, "title": title})
        return bead

    def bead_list(
        self,
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
            args.append(self.resolve(parent))
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
        for row in self._rows(sql, args):  # paged by size too: a page always fits one frame
            size += 200 + len(row["title"]) + len(row["body"] or "") + len(row["metadata"] or "")
            if page and size > PAGE_BYTES:
                break
            page.append(_decode(row))
        return page

    def bead_update(
        self,
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
        with self.conn:
            bead = self.bead_row(self.resolve(key))
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
                self.rig_get(rig)
                changes["rig"] = rig
            if assignee is not None:
                changes["assignee"] = assignee or None
            if metadata:
                merged = {**bead["metadata"], **metadata}
                changes["metadata"] = json.dumps({k: v for k, v in merged.items() if v is not None})
            changed = {k: v for k, v in changes.items() if bead.get(k) != v}
            for label in add_labels:
                self._add_label(bead["id"], label)
            for label in remove_labels:
                self.conn.execute("DELETE FROM bead_labels WHERE bead_id = ? AND label = ?", (bead["id"], label))
            touched = list(changed) + (["labels"] if add_labels or remove_labels else [])
            if not touched:
                return self.bead_get(bead["id"])
            sets = ", ".join(f"{k} = ?" for k in changed)
            self.conn.execute(
                f"UPDATE beads SET {sets + ', ' if sets else ''}updated_at = ? WHERE id = ?",
                (*changed.values(), self.now(), bead["id"]),
            )
            self._event(bead["id"], EventType.FIELDS_UPDATED, actor=actor, meta={"fields": touched})
        return self.bead_get(bead["id"])

    # ----------------------------------------------------------------- statuses
    def _set_status(
        self,
        bead: Row,
        new: BeadStatus,
        *,
        actor: str | None,
        reason: str | None = None,
        failure: dict[str, Any] | None = None,
        reopen: bool = False,
    ) -> bool:
        """The one place a bead's status changes; writes the status_changed event.

        A same-status write is a no-op without an event. Moving out of closed/failed is
        refused unless this is an explicit reopen.
        """
        old = BeadStatus(bead["status"])
        if old == new:
            return False
        if not bead_transition_allowed(old, new, reopen=reopen):
            hint = f" (use 'gt bead reopen {bead['id']} --reason ...')" if old.terminal else ""
            raise RpcError(ErrorCode.CONFLICT, f"bead {bead['id']} is {old.value}; cannot move it to {new.value}{hint}")
        now = self.now()
        closed_at = now if new.terminal else None
        close_reason = reason if new.terminal else None
        # A given failure is recorded whatever the new status (an open bead carries the reason
        # its last attempt failed to the next polecat); an explicit reopen clears it; otherwise
        # the stored value is left alone (never re-written from a possibly stale row).
        touch_failure = failure is not None or reopen
        self.conn.execute(
            "UPDATE beads SET status = ?, updated_at = ?, closed_at = ?, close_reason = ?, "
            "failure_reason = CASE WHEN ? THEN ? ELSE failure_reason END WHERE id = ?",
            (new.value, now, closed_at, close_reason, touch_failure, json.dumps(failure) if failure else None,
             bead["id"]),
        )
        meta: dict[str, Any] = {}
        if reason:
            meta["reason"] = reason
        if failure:
            meta["failure_reason"] = failure
        event = EventType.REOPENED if reopen else EventType.CLOSED if new == BeadStatus.CLOSED else EventType.STATUS_CHANGED
        self._event(bead["id"], event, actor=actor, old=old.value, new=new.value, meta=meta)
        bead["status"] = new.value
        self._recount_convoys(bead["id"])
        return True

    def _recount_convoys(self, bead_id: str) -> None:
        """Convoy progress is derived by recounting its members, here, on every member status
        change: never bumped on a side path (cloud #962, #1823)."""
        for (convoy_id,) in list(self.conn.execute(
                "SELECT d.depends_on FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on "
                "WHERE d.bead_id = ? AND d.type = 'tracks'", (bead_id,))):
            self.conn.execute(
                "UPDATE convoys SET total_beads = (SELECT count(*) FROM bead_dependencies d WHERE d.depends_on = ?1 "
                "AND d.type = 'tracks'), closed_beads = (SELECT count(*) FROM bead_dependencies d JOIN beads b "
                "ON b.id = d.bead_id WHERE d.depends_on = ?1 AND d.type = 'tracks' AND b.status = 'closed') "
                "WHERE bead_id = ?1", (convoy_id,))

    def transition(
        self,
        key: str,
        status: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        failure: dict[str, Any] | None = None,
    ) -> Row:
        with self.conn:
            bead = self.bead_row(self.resolve(key))
            self._set_status(bead, BeadStatus(status), actor=actor, reason=reason, failure=failure)
        return self.bead_get(bead["id"])

    def bead_close(self, key: str, *, actor: str | None = None, reason: str | None = None) -> Row:
        return self.transition(key, BeadStatus.CLOSED.value, actor=actor, reason=reason)

    def bead_fail(self, key: str, failure: dict[str, Any], *, actor: str | None = None) -> Row:
        return self.transition(key, BeadStatus.FAILED.value, actor=actor, reason=failure.get("message"),
                               failure=failure)

    def bead_reopen(self, key: str, *, reason: str, actor: str | None = None) -> Row:
        if not reason.strip():
            raise RpcError(ErrorCode.INVALID_PARAMS, "reopen needs a reason")
        with self.conn:
            bead = self.bead_row(self.resolve(key))
            if not BeadStatus(bead["status"]).terminal:
                raise RpcError(ErrorCode.INVALID_STATE, f"bead {bead['id']} is {bead['status']}, not closed or failed")
            self._set_status(bead, BeadStatus.OPEN, actor=actor, reason=reason, reopen=True)
            self.conn.execute("UPDATE beads SET assignee = NULL, dispatch_attempts = 0 WHERE id = ?", (bead["id"],))
        return self.bead_get(bead["id"])

    # ------------------------------------------------------------- dependencies
    def _dep_insert(self, bead_id: str, depends_on: str, dep_type: DepType, actor: str | None) -> None:
        if bead_id == depends_on:
            raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} cannot depend on itself")
        if self._one("SELECT 1 AS x FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, depends_on)):
            raise RpcError(ErrorCode.ALREADY_EXISTS, f"{bead_id} already depends on {depends_on}")
        if dep_type != DepType.TRACKS:
            cycle = readiness.path(self.conn, depends_on, bead_id)
            if cycle:
                chain = " -> ".join([bead_id, *cycle])
                raise RpcError(ErrorCode.CONFLICT, f"dependency cycle: {chain}")
        if dep_type == DepType.PARENT_CHILD:
            if self.conn.execute("SELECT parent FROM beads WHERE id = ?", (bead_id,)).get not in (None, depends_on):
                raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} already has a parent")
            self.conn.execute("UPDATE beads SET parent = ? WHERE id = ?", (depends_on, bead_id))
        self.conn.execute(
            "INSERT INTO bead_dependencies(bead_id, depends_on, type, created_at) VALUES (?, ?, ?, ?)",
            (bead_id, depends_on, dep_type.value, self.now()),
        )
        self._event(bead_id, EventType.DEPENDENCY_ADDED, actor=actor, new=depends_on, meta={"type": dep_type.value})

    def dep_add(self, key: str, depends_on: str, *, type: str = "blocks", actor: str | None = None) -> Row:
        with self.conn:
            self._dep_insert(self.resolve(key), self.resolve(depends_on), DepType(type), actor)
        return self.bead_get(key)

    def dep_remove(self, key: str, depends_on: str, *, actor: str | None = None) -> Row:
        with self.conn:
            bead_id, target = self.resolve(key), self.resolve(depends_on)
            dep_type = self.conn.execute(
                "SELECT type FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, target)).get
            if dep_type is None:
                raise RpcError(ErrorCode.NOT_FOUND, f"{bead_id} does not depend on {target}")
            self.conn.execute("DELETE FROM bead_dependencies WHERE bead_id = ? AND depends_on = ?", (bead_id, target))
            if dep_type == DepType.PARENT_CHILD.value:
                self.conn.execute("UPDATE beads SET parent = NULL WHERE id = ?", (bead_id,))
            self._event(bead_id, EventType.DEPENDENCY_REMOVED, actor=actor, old=target, meta={"type": dep_type})
        return self.bead_get(bead_id)

    # -------------------------------------------------------------------- ready
    def ready(self, *, rig: str | None = None, limit: int = 100) -> list[Row]:
        ready_ids = readiness.ready_ids(self.conn, rig=rig, limit=limit)
        return [self.bead_row(i) for i in ready_ids]

    def ready_explain(self, *, rig: str | None = None, limit: int = 100) -> list[Row]:
        out = []
        for bead_id, reasons in readiness.blocked(self.conn, rig=rig, limit=limit):
            row = self.bead_row(bead_id)
            row["blocked_by"] = reasons
            out.append(row)
        return out

    # ------------------------------------------------------------------- events
    def events_since(self, since: int, limit: int = 1000) -> list[Row]:
        return [_decode_event(r) for r in self._rows(
            "SELECT * FROM bead_events WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit))]

    def bead_events(self, key: str) -> list[Row]:
        bead_id = self.resolve(key)
        return [_decode_event(r) for r in self._rows(
            "SELECT * FROM bead_events WHERE bead_id = ? ORDER BY seq", (bead_id,))]

    def counts(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.conn.execute(
            "SELECT status, count(*) FROM beads WHERE type = 'issue' AND archived_at IS NULL GROUP BY status")}


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


def _decode(row: Row) -> Row:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    if "labels" in row:
        row["labels"] = sorted(json.loads(row["labels"])) if row["labels"] else []
    row["failure_reason"] = json.loads(row["failure_reason"]) if row.get("failure_reason") else None
    return row


def _decode_event(row: Row) -> Row:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    return row
