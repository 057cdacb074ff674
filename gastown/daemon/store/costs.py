"""Tokens per bead, per convoy and per agent, summed from the turns' exit events (the
ledger's `turn_usage` has the priced view)."""

from __future__ import annotations

from typing import Any

from gastown.daemon.store.db import Db


def costs(db: Db) -> dict[str, Any]:
    """Tokens per bead, per convoy and per agent, summed from the turns' exit events."""
    per_bead: dict[str, dict[str, Any]] = {}
    per_agent: dict[str, dict[str, int]] = {}
    for bead_id, agent, t_in, t_out in db.conn.execute(
            "SELECT json_extract(metadata, '$.bead'), json_extract(metadata, '$.agent'), "
            "coalesce(json_extract(metadata, '$.tokens_in'), 0), coalesce(json_extract(metadata, '$.tokens_out'), 0) "
            "FROM bead_events WHERE event_type = 'turn_exited'"):
        a = per_agent.setdefault(str(agent), {"tokens_in": 0, "tokens_out": 0, "turns": 0})
        a["tokens_in"] += int(t_in)
        a["tokens_out"] += int(t_out)
        a["turns"] += 1
        if bead_id:
            b = per_bead.setdefault(str(bead_id), {"tokens_in": 0, "tokens_out": 0, "turns": 0})
            b["tokens_in"] += int(t_in)
            b["tokens_out"] += int(t_out)
            b["turns"] += 1
    per_convoy: dict[str, dict[str, int]] = {}
    for bead_id, usage in per_bead.items():
        row = db.one("SELECT title, status, json_extract(metadata, '$.convoy') AS convoy FROM beads WHERE id = ?",
                     (bead_id,))
        if row is None:
            continue
        usage.update(title=row["title"], status=row["status"])
        if row["convoy"]:
            c = per_convoy.setdefault(row["convoy"], {"tokens_in": 0, "tokens_out": 0, "turns": 0})
            for k in ("tokens_in", "tokens_out", "turns"):
                c[k] += usage[k]
    return {"beads": per_bead, "convoys": per_convoy, "agents": per_agent}
