"""The patrol's stored counters and switches (`patrol_state`: key -> JSON value): cursors,
parked rigs, the paused town, the triage case."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.db import Db


def patrol_get(db: Db, key: str) -> Any:
    raw = db.conn.execute("SELECT value FROM patrol_state WHERE key = ?", (key,)).get
    return json.loads(raw) if raw else None


def patrol_set(db: Db, key: str, value: Any) -> None:
    with db.conn:
        db.conn.execute("INSERT INTO patrol_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                        "value = excluded.value", (key, json.dumps(value)))


def patrol_delete(db: Db, *keys: str) -> None:
    with db.conn:
        for key in keys:
            db.conn.execute("DELETE FROM patrol_state WHERE key = ?", (key,))


def patrol_keys(db: Db, prefix: str) -> list[str]:
    return [str(r[0]) for r in db.conn.execute(
        "SELECT key FROM patrol_state WHERE key LIKE ? ORDER BY key", (prefix.replace("%", "") + "%",))]
