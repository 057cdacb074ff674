"""The reconciler's inbox: durable town events (`town_events`) the loop handles once."""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store.db import Db, Row


def inbox_add(db: Db, event_type: str, *, agent: str | None = None, bead: str | None = None,
              payload: dict[str, Any] | None = None) -> int:
    with db.conn:
        db.conn.execute(
            "INSERT INTO town_events(event_type, agent_id, bead_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (event_type, agent, bead, json.dumps(payload or {}), db.now()))
        event_id = db.conn.last_insert_rowid()
    return event_id


def inbox_pending(db: Db, limit: int = 200) -> list[Row]:
    rows = db.rows("SELECT * FROM town_events WHERE processed_at IS NULL ORDER BY event_id LIMIT ?", (limit,))
    return [{**r, "payload": json.loads(r["payload"])} for r in rows]


def inbox_done(db: Db, event_id: int) -> None:
    with db.conn:
        db.conn.execute("UPDATE town_events SET processed_at = ? WHERE event_id = ?", (db.now(), event_id))
