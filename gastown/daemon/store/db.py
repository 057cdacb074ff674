"""The town database: one apsw connection to `town.db`, used from one writer thread.

`Db` is only the connection and its plumbing (migrations, the clock, row helpers and the one
event append). Every noun module of the store is functions over a `Db`; `store/__init__.py`
composes them into the `Store` the daemon uses.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import apsw
import apsw.bestpractice

from gastown.daemon.store import schema
from gastown.protocol import ErrorCode, RpcError

Clock = Callable[[], datetime]
Row = dict[str, Any]

_APSW_READY = False


def _apsw_best_practice() -> None:
    """apsw's recommended setup (WAL, foreign keys, …) once per process, when the first store
    opens, not as a side effect of importing this module."""
    global _APSW_READY
    if not _APSW_READY:
        apsw.bestpractice.apply(apsw.bestpractice.recommended)
        _APSW_READY = True


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """The one timestamp format of the store (cloud #1412: never mix two)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def not_found(what: str, key: str) -> RpcError:
    return RpcError(ErrorCode.NOT_FOUND, f"no {what} '{key}'")


def decode_event(row: Row) -> Row:
    row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
    return row


class Db:
    """The connection of one town's store, and what every noun module needs of it."""

    def __init__(self, path: Path, prefix: str, clock: Clock = utcnow, *, read_only: bool = False) -> None:
        self.path = path
        self.prefix = prefix
        self.clock = clock
        self.read_only = read_only
        path.parent.mkdir(parents=True, exist_ok=True)
        _apsw_best_practice()
        flags = apsw.SQLITE_OPEN_READONLY if read_only else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        self.conn = apsw.Connection(str(path), flags=flags)
        self.conn.set_busy_timeout(5000)
        self.conn.transaction_mode = "IMMEDIATE"
        if not read_only:
            self._migrate()
        self.last_seq: int = self.conn.execute("SELECT coalesce(max(seq), 0) FROM bead_events").get or 0
        self.bead_total: int = self.conn.execute("SELECT count(*) FROM beads").get or 0

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
            if not self.read_only:
                self.conn.execute("PRAGMA optimize")
        finally:
            self.conn.close()

    def transaction(self) -> apsw.Connection:
        """`with store.transaction():` several store verbs commit together or not at all
        (each verb's own transaction becomes a savepoint inside it)."""
        return self.conn

    def now(self) -> str:
        return iso(self.clock())

    def rows(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        """Rows as dicts (store modules only: SQL stays inside the store package)."""
        cur = self.conn.execute(sql, tuple(args))
        names: list[str] | None = None
        for row in cur:
            if names is None:
                names = [d[0] for d in cur.get_description()]
            yield dict(zip(names, row))

    def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        return next(self.rows(sql, args), None)

    def event(self, bead_id: str | None, event_type: str, *, actor: str | None = None, old: str | None = None,
              new: str | None = None, meta: dict[str, Any] | None = None) -> int:
        """Append one event to the audit log; the caller holds the transaction."""
        self.conn.execute(
            "INSERT INTO bead_events(bead_id, event_type, actor, old_value, new_value, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (bead_id, event_type, actor, old, new, json.dumps(meta or {}), self.now()),
        )
        self.last_seq = self.conn.last_insert_rowid()
        return self.last_seq
