"""The town's ledger: what every turn used, what it cost, budgets, and flow gauges.

Functions over the town's database (`Db`), called where they are needed
(`town.call(ledger.costs, town.store, …)`; `turns.turn_exited` records each turn). Usage is
recorded per turn in `turn_usage` inside the same transaction as the turn's exit; dollars are
computed at read time from the price table, so correcting a price corrects every report.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from gastown.daemon.rules import budgets as rules
from gastown.daemon.store.db import Db, Row
from gastown.model import EventType
from gastown.pricing import PriceTable


GROUPS = {"human": "requested_by", "rig": "rig", "convoy": "convoy", "agent": "agent", "model": "model",
          "day": "day", "bead": "bead_id", "role": "role", "persona": "persona"}
"""`gt costs --by X` -> the turn_usage column it groups by."""

SAMPLE_EVERY_S = 60
SAMPLE_RETENTION_DAYS = 14
"""Gauge samples: one a minute at most, two weeks kept (≈20k rows a town, bounded)."""


def _rows(db: Db, sql: str, args: Iterable[Any] = ()) -> list[Row]:
    return list(db.rows(sql, args))


def _pairs(db: Db, sql: str, args: Iterable[Any] = ()) -> dict[str, int]:
    """A two-column query (name, count) as a dict."""
    return {str(k): int(v or 0) for k, v in db.conn.execute(sql, tuple(args))}


# ------------------------------------------------------------------ recording
def record_turn(db: Db, agent: Row, *, exit_code: int | None, tokens_in: int, tokens_out: int,
                tokens_cached: int, model: str, ended_at: str) -> None:
    """One row per finished turn; the caller holds the transaction of the turn's exit."""
    bead_id = agent.get("hook_bead_id") or agent.get("last_bead_id")
    bead = _rows(db, "SELECT rig, requested_by, json_extract(metadata, '$.convoy') AS convoy, "
                        "json_extract(metadata, '$.persona') AS persona FROM beads WHERE id = ?", (bead_id,))
    b = bead[0] if bead else {}
    db.conn.execute(
        "INSERT INTO turn_usage(started_at, ended_at, day, agent, role, rig, bead_id, convoy, requested_by, adapter, "
        "model, persona, tokens_in, tokens_out, tokens_cached, exit_code) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (agent.get("turn_started_at"), ended_at, ended_at[:10], agent["name"], agent["role"],
         b.get("rig") or agent.get("rig"), bead_id, b.get("convoy"), b.get("requested_by"), agent.get("adapter") or "",
         model or "", b.get("persona"), int(tokens_in), int(tokens_out), int(tokens_cached), exit_code))


# ---------------------------------------------------------------------- costs
def _since_clause(since: str | None) -> tuple[str, list[Any]]:
    return ("WHERE ended_at >= ?", [since]) if since else ("", [])


def costs(db: Db, prices: PriceTable, *, by: str, since: str | None = None) -> dict[str, Any]:
    """Tokens and dollars grouped by one dimension, most expensive first."""
    if by not in GROUPS:
        raise ValueError(f"cannot group costs by {by!r} (choose {', '.join(GROUPS)})")
    col = GROUPS[by]
    where, args = _since_clause(since)
    groups: dict[str, Row] = {}
    unpriced: set[str] = set()
    for r in db.conn.execute(
            f"SELECT coalesce({col}, ''), model, sum(tokens_in), sum(tokens_out), sum(tokens_cached), count(*) "
            f"FROM turn_usage {where} GROUP BY 1, 2", args):
        key, model, t_in, t_out, t_cached, turns = r
        g = groups.setdefault(key, {"key": key or "(none)", "tokens_in": 0, "tokens_out": 0, "tokens_cached": 0,
                                    "turns": 0, "dollars": 0.0, "unpriced_tokens": 0})
        g["tokens_in"] += t_in
        g["tokens_out"] += t_out
        g["tokens_cached"] += t_cached
        g["turns"] += turns
        dollars = prices.dollars(model, t_in, t_out, t_cached)
        if dollars is None:
            g["unpriced_tokens"] += t_in + t_out
            if t_in or t_out:
                unpriced.add(model or "(unknown)")
        else:
            g["dollars"] += dollars
    rows = sorted(groups.values(), key=lambda g: (-g["dollars"], -(g["tokens_in"] + g["tokens_out"]), g["key"]))
    for g in rows:
        g["dollars"] = round(g["dollars"], 6)
    total = {k: sum(g[k] for g in rows) for k in ("tokens_in", "tokens_out", "tokens_cached", "turns",
                                                   "unpriced_tokens")}
    total["dollars"] = round(sum(g["dollars"] for g in rows), 6)
    return {"by": by, "since": since, "rows": rows, "total": total, "unpriced_models": sorted(unpriced)}


def turn_costs(db: Db, prices: PriceTable, *, limit: int = 50) -> list[Row]:
    """The latest turns with their dollars (`gt costs --by turn`)."""
    out = _rows(db, "SELECT seq, ended_at, agent, role, rig, bead_id, model, tokens_in, tokens_out, tokens_cached, "
                       "exit_code FROM turn_usage ORDER BY seq DESC LIMIT ?", (limit,))
    for r in out:
        d = prices.dollars(r["model"], r["tokens_in"], r["tokens_out"], r["tokens_cached"])
        r["dollars"] = None if d is None else round(d, 6)
    return out


# -------------------------------------------------------------------- budgets
def budget_set(db: Db, scope: str, key: str, *, tokens: int | None, dollars: float | None) -> Row:
    with db.conn:
        db.conn.execute(
            "INSERT INTO budgets(scope, key, tokens, dollars, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(scope, key) DO UPDATE SET tokens = excluded.tokens, dollars = excluded.dollars",
            (scope, key, tokens, dollars, db.now()))
        db.event(None, EventType.BUDGET_SET, actor="human",
                    meta={"scope": scope, "key": key, "tokens": tokens, "dollars": dollars})
    return {"scope": scope, "key": key, "tokens": tokens, "dollars": dollars}


def budget_clear(db: Db, scope: str, key: str) -> bool:
    with db.conn:
        gone = db.conn.execute("DELETE FROM budgets WHERE scope = ? AND key = ? RETURNING scope",
                                  (scope, key)).fetchall()
        if gone:
            db.event(None, EventType.BUDGET_CLEARED, actor="human", meta={"scope": scope, "key": key})
    return bool(gone)


def _scope_usage(db: Db, prices: PriceTable, scope: str, key: str) -> tuple[int, float]:
    col = rules.SCOPE_COLUMN[scope]
    where, args = ("", []) if col is None else (f"WHERE {col} = ?", [key])
    tokens, dollars = 0, 0.0
    for model, t_in, t_out, t_cached in db.conn.execute(
            f"SELECT model, sum(tokens_in), sum(tokens_out), sum(tokens_cached) FROM turn_usage {where} "
            "GROUP BY model", args):
        tokens += t_in + t_out
        dollars += prices.dollars(model, t_in, t_out, t_cached) or 0.0
    return tokens, dollars


def budget_list(db: Db, prices: PriceTable) -> list[Row]:
    """Every budget with what its scope has used so far and its state."""
    out = []
    for b in _rows(db, "SELECT scope, key, tokens, dollars, state FROM budgets ORDER BY scope, key"):
        used_tokens, used_dollars = _scope_usage(db, prices, b["scope"], b["key"])
        frac = rules.fraction(b["tokens"], b["dollars"], used_tokens, used_dollars)
        out.append({**b, "id": f"{b['scope']}:{b['key']}" if b["key"] else b["scope"], "used_tokens": used_tokens,
                    "used_dollars": round(used_dollars, 6), "percent": round(frac * 100, 1),
                    "status": rules.state_of(frac)})
    return out


def budget_check(db: Db, prices: PriceTable) -> tuple[list[Row], list[Row]]:
    """Recompute each budget's state; record every change as an event. Returns (all budgets,
    the ones whose state changed) so the caller can notify and escalate after commit."""
    current = budget_list(db, prices)
    changed = [b for b in current if b["status"] != b["state"]]
    if changed:
        with db.conn:
            for b in changed:
                db.conn.execute("UPDATE budgets SET state = ? WHERE scope = ? AND key = ?",
                                   (b["status"], b["scope"], b["key"]))
                kind = {"ok": EventType.BUDGET_RELEASED, "warning": EventType.BUDGET_WARNING,
                        "exhausted": EventType.BUDGET_EXHAUSTED}
                db.event(None, kind[b["status"]], actor="ledger",
                            old=b["state"], new=b["status"],
                            meta={"scope": b["scope"], "key": b["key"], "percent": b["percent"],
                                  "used_tokens": b["used_tokens"], "used_dollars": b["used_dollars"],
                                  "tokens": b["tokens"], "dollars": b["dollars"]})
    return current, changed


# --------------------------------------------------------------------- gauges
def sample(db: Db, now: datetime) -> bool:
    """Record queue depth and agent activity at most once a minute; drop old samples."""
    last = db.conn.execute("SELECT max(at) FROM stats_samples").get
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if last and (now - _parse(last)).total_seconds() < SAMPLE_EVERY_S:
        return False
    counts = _pairs(db,
        "SELECT 'ready', count(*) FROM beads WHERE type = 'issue' AND status = 'open' AND rig IS NOT NULL "
        "UNION ALL SELECT 'mrs', count(*) FROM beads WHERE type = 'merge_request' AND status IN ('open', 'in_progress') "
        "UNION ALL SELECT 'working', count(*) FROM agents WHERE role = 'polecat' AND status IN ('starting', 'working') "
        "UNION ALL SELECT 'polecats', count(*) FROM agents WHERE role = 'polecat' AND status != 'stopped'")
    cutoff = (now - timedelta(days=SAMPLE_RETENTION_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with db.conn:
        db.conn.execute("INSERT OR REPLACE INTO stats_samples VALUES (?, ?, ?, ?, ?)",
                           (stamp, counts["ready"], counts["mrs"], counts["working"], counts["polecats"]))
        db.conn.execute("DELETE FROM stats_samples WHERE at < ?", (cutoff,))
    return True


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _merged_sources(db: Db, since: str | None) -> list[Row]:
    """Issue beads closed by a merge in the window, with when they were slung and merged."""
    where, args = ("AND m.closed_at >= ?", [since]) if since else ("", [])
    return _rows(db,
                 "SELECT s.id, (julianday(m.closed_at) - julianday(s.created_at)) * 86400 AS lead_s "
                 "FROM merge_requests mr "
                 "JOIN beads m ON m.id = mr.bead_id JOIN beads s ON s.id = mr.source_bead_id "
                 f"WHERE mr.merge_commit IS NOT NULL AND m.status = 'closed' {where}", args)


def _first_try(db: Db, since: str | None) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(sources whose first MR merged, sources with a decided first MR, per model) in the window."""
    where, args = ("AND s.created_at >= ?", [since]) if since else ("", [])
    rows = db.conn.execute(
        "SELECT s.id, (SELECT m.status FROM merge_requests mr JOIN beads m ON m.id = mr.bead_id "
        "              WHERE mr.source_bead_id = s.id ORDER BY m.created_at, m.id LIMIT 1), "
        "       (SELECT mr2.merge_commit IS NOT NULL FROM merge_requests mr2 JOIN beads m2 ON m2.id = mr2.bead_id "
        "              WHERE mr2.source_bead_id = s.id ORDER BY m2.created_at, m2.id LIMIT 1), "
        "       (SELECT model FROM turn_usage u WHERE u.bead_id = s.id ORDER BY seq DESC LIMIT 1) "
        f"FROM beads s WHERE s.type = 'issue' {where} AND EXISTS "
        "(SELECT 1 FROM merge_requests mr WHERE mr.source_bead_id = s.id)", args).fetchall()
    ok = decided = 0
    per_model: dict[str, tuple[int, int]] = {}
    for _id, first_status, first_merged, model in rows:
        if first_status not in ("closed", "failed"):
            continue
        decided += 1
        passed = int(bool(first_merged))
        ok += passed
        key = str(model or "(unknown)")
        p, d = per_model.get(key, (0, 0))
        per_model[key] = (p + passed, d + 1)
    return ok, decided, per_model


def stats(db: Db, prices: PriceTable, *, since: str, now: datetime) -> dict[str, Any]:
    """The flow gauges of one town over a window: how much landed, how fast, how cleanly."""
    hours = max((now - _parse(since)).total_seconds() / 3600, 1e-9)
    merged = _merged_sources(db, since)
    lead = [r["lead_s"] for r in merged]
    ok, decided, per_model_pass = _first_try(db, since)
    ended = _pairs(db,
        "SELECT status, count(*) FROM beads WHERE type = 'issue' AND status IN ('closed', 'failed') "
        "AND closed_at >= ? GROUP BY status", (since,))
    rework = db.conn.execute(
        "SELECT count(*), coalesce(sum(n > 1), 0) FROM (SELECT count(*) AS n FROM merge_requests mr "
        "JOIN beads m ON m.id = mr.bead_id WHERE m.created_at >= ? GROUP BY mr.source_bead_id)", (since,)).fetchone() or (0, 0)
    busy_s = _busy_seconds(db, since, now)
    polecats = db.conn.execute("SELECT count(*) FROM agents WHERE role = 'polecat'").get or 0
    cost = costs(db, prices, by="model", since=since)
    merged_by_model = _merged_by_model(db, since)
    models = [{"model": r["key"], "dollars": r["dollars"], "turns": r["turns"],
               "merged_beads": merged_by_model.get(r["key"], 0),
               "dollars_per_merged_bead": round(r["dollars"] / merged_by_model[r["key"]], 4)
               if merged_by_model.get(r["key"]) else None,
               "first_try_pass_rate": _ratio(*per_model_pass.get(r["key"], (0, 0)))} for r in cost["rows"]]
    samples = _rows(db, "SELECT at, ready, queued_mrs, working, polecats FROM stats_samples WHERE at >= ? "
                           "ORDER BY at", (since,))
    return {
        "since": since, "hours": round(hours, 3),
        "merged": len(merged), "merges_per_hour": round(len(merged) / hours, 3),
        "median_sling_to_merged_s": round(statistics.median(lead), 1) if lead else None,
        "first_try_pass_rate": _ratio(ok, decided),
        "rework_rate": _ratio(int(rework[1]), int(rework[0])),
        "failure_rate": _ratio(ended.get("failed", 0), ended.get("closed", 0) + ended.get("failed", 0)),
        "agent_utilisation": round(busy_s / (polecats * hours * 3600), 3) if polecats else None,
        "queue_depth": _queue_depth(db),
        "dollars": cost["total"]["dollars"],
        "tokens": cost["total"]["tokens_in"] + cost["total"]["tokens_out"],
        "by_model": models,
        "series": {k: [s[k] for s in samples] for k in ("ready", "queued_mrs", "working")},
        "series_at": [s["at"] for s in samples],
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def _busy_seconds(db: Db, since: str, now: datetime) -> float:
    """Polecat turn time inside the window: finished turns (clipped at its start) plus the
    turns running now."""
    start = _parse(since)
    total = float(db.conn.execute(
        "SELECT coalesce(sum(max(0, julianday(ended_at) - julianday(max(started_at, ?)))), 0) * 86400 "
        "FROM turn_usage WHERE role = 'polecat' AND started_at IS NOT NULL AND ended_at >= ?",
        (since, since)).get or 0.0)
    for (started,) in db.conn.execute(
            "SELECT turn_started_at FROM agents WHERE role = 'polecat' AND turn_started_at IS NOT NULL "
            "AND turn_ended_at IS NULL"):
        total += max(0.0, (now - max(_parse(started), start)).total_seconds())
    return total


def _merged_by_model(db: Db, since: str) -> dict[str, int]:
    return _pairs(db,
        "SELECT coalesce((SELECT model FROM turn_usage u WHERE u.bead_id = mr.source_bead_id ORDER BY seq DESC "
        "LIMIT 1), '(none)'), count(DISTINCT mr.source_bead_id) FROM merge_requests mr JOIN beads m ON m.id = mr.bead_id "
        "WHERE mr.merge_commit IS NOT NULL AND m.closed_at >= ? GROUP BY 1", (since,))


def _queue_depth(db: Db) -> dict[str, int]:
    return _pairs(db,
        "SELECT 'ready_beads', count(*) FROM beads WHERE type = 'issue' AND status = 'open' AND rig IS NOT NULL "
        "UNION ALL SELECT 'merge_requests', count(*) FROM beads WHERE type = 'merge_request' "
        "AND status IN ('open', 'in_progress')")


def budget_mark(db: Db) -> tuple[int, str | None]:
    """What budget states depend on in the store: the ledger's last row and the budgets
    (the spending watcher re-checks only when this changes)."""
    row = db.conn.execute(
        "SELECT (SELECT coalesce(max(seq), 0) FROM turn_usage), "
        "(SELECT group_concat(scope || ':' || key || ':' || coalesce(tokens, '') || ':' || coalesce(dollars, ''), ',') "
        "FROM budgets)").fetchone() or (0, None)
    return int(row[0] or 0), str(row[1]) if row[1] is not None else None
