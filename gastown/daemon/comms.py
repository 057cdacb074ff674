"""Mail, nudges, escalations and the patrol's stored counters, on top of the work store.

Mail is durable (a `message` bead per recipient); nudges are ephemeral rows with a TTL.
Both are delivered at an agent's next turn boundary (prepended to its prompt) and marked
delivered only when that turn has started: acknowledged, structured delivery, never
keystrokes typed into a screen.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from gastown.daemon.store import Row, iso
from gastown.daemon.workstore import WorkStore
from gastown.model import AgentStatus, BeadStatus, BeadType, Severity, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

SEVERITIES = [s.value for s in Severity]
NUDGE_MODES = ("immediate", "wait-idle", "queue")


class CommsStore(WorkStore):
    # --------------------------------------------------------------------- mail
    def resolve_recipients(self, to: str) -> list[str]:
        """An agent name, a role, `rig/role`, `mayor` or `human` -> mailbox names."""
        to = to.strip()
        if to in ("human", "mayor"):
            return [to]
        if self._one("SELECT 1 AS x FROM agents WHERE name = ?", (to,)):
            return [to]
        rig, _, role = to.rpartition("/")
        rows = [r[0] for r in self.conn.execute(
            "SELECT name FROM agents WHERE role = ? AND (? = '' OR rig = ?) ORDER BY name", (role, rig, rig))]
        if rows:
            return rows
        raise RpcError(ErrorCode.NOT_FOUND, f"no mailbox '{to}' (an agent, a role, rig/role, mayor or human)")

    def mail_send(self, to: str, subject: str, body: str, *, sender: str, thread: str | None = None) -> list[Row]:
        with self.conn:
            sent = []
            for box in self.resolve_recipients(to):
                msg = self.bead_create(subject or "(no subject)", type=BeadType.MESSAGE.value, body=body,
                                       created_by=sender, requested_by=sender,
                                       metadata={"from": sender, "to": box, "addressed_to": to,
                                                 **({"thread": thread} if thread else {})})
                self.conn.execute("UPDATE beads SET assignee = ? WHERE id = ?", (box, msg["id"]))
                self._event(msg["id"], EventType.MAIL_SENT, actor=sender, new=box)
                sent.append(self.bead_row(msg["id"]))
        return sent

    def mail_inbox(self, box: str, *, unread: bool = False) -> list[Row]:
        sql = f"SELECT id FROM beads WHERE type = 'message' AND assignee = ?{' AND status = ?' if unread else ''} " \
              "ORDER BY created_at"
        return [self.bead_row(r[0]) for r in self.conn.execute(sql, (box, "open") if unread else (box,))]

    def mail_read(self, key: str, *, reader: str) -> Row:
        """Reading marks a message read (closed); the first read also marks it delivered."""
        with self.conn:
            msg = self.bead_row(self.resolve(key))
            if msg["type"] != BeadType.MESSAGE.value:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{msg['id']} is not a message")
            if msg["status"] == BeadStatus.OPEN.value:
                self._mark_delivered(msg)
                self._set_status(msg, BeadStatus.CLOSED, actor=reader, reason="read")
        return self.bead_get(msg["id"])

    def _mark_delivered(self, msg: Row) -> None:
        if not msg["metadata"].get("delivered_at"):
            meta = {**msg["metadata"], "delivered_at": self.now()}
            self.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?", (json.dumps(meta), msg["id"]))
            self._event(msg["id"], EventType.MAIL_DELIVERED, actor="system", new=msg["assignee"])

    # ------------------------------------------------------------------- nudges
    def nudge(self, agent: str, message: str, *, mode: str = "wait-idle", source: str | None = None,
              ttl_minutes: float = 30.0) -> Row:
        if mode not in NUDGE_MODES:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"mode must be one of {', '.join(NUDGE_MODES)}")
        with self.conn:
            target = self._agent(agent)
            now = self.clock()
            self.conn.execute(
                "INSERT INTO agent_nudges(agent, message, mode, source, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (agent, message, mode, source, iso(now), iso(now + timedelta(minutes=ttl_minutes))))
            nudge_id = self.conn.last_insert_rowid()
            self._event(target["bead_id"], EventType.NUDGED, actor=source, new=mode, meta={"nudge": nudge_id, "agent": agent})
        return {"id": nudge_id, "status": "queued", "agent": agent, "mode": mode, "message": message}

    def pending_nudges(self, agent: str | None = None) -> list[Row]:
        now = self.now()
        sql = ("SELECT * FROM agent_nudges WHERE delivered_at IS NULL AND expired_at IS NULL AND expires_at > ?"
               + (" AND agent = ?" if agent else "") + " ORDER BY nudge_id")
        return list(self._rows(sql, (now, agent) if agent else (now,)))

    def expire_nudges(self) -> int:
        with self.conn:
            now = self.now()
            self.conn.execute("UPDATE agent_nudges SET expired_at = ? WHERE delivered_at IS NULL AND expired_at IS NULL "
                              "AND expires_at <= ?", (now, now))
            changed = self.conn.changes()
        return changed

    def deliverables(self, agent: str) -> tuple[list[Row], list[Row]]:
        """Undelivered mail and live nudges for an agent's next turn."""
        mail = [m for m in self.mail_inbox(agent, unread=True) if not m["metadata"].get("delivered_at")]
        return mail, self.pending_nudges(agent)

    def mark_delivered(self, agent: str, mail_ids: list[str], nudge_ids: list[int]) -> None:
        """Called in the same breath as turn_started: delivered means the turn really began."""
        with self.conn:
            for mail_id in mail_ids:
                self._mark_delivered(self.bead_row(mail_id))
            now = self.now()
            for nudge_id in nudge_ids:
                self.conn.execute("UPDATE agent_nudges SET delivered_at = ? WHERE nudge_id = ?", (now, nudge_id))

    # -------------------------------------------------------------- escalations
    def escalation_create(self, message: str, *, severity: str, source: str | None,
                          bead_id: str | None = None, category: str | None = None) -> Row:
        """An escalation bead; routed to the mayor's mailbox, and from `high` on to the human's."""
        if severity not in SEVERITIES:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"severity must be one of {', '.join(SEVERITIES)}")
        with self.conn:
            esc = super().escalation_create(message, severity=severity, source=source, bead_id=bead_id,
                                            category=category)
            self._route(esc["id"], severity, message)
        return self.escalation_get(esc["id"])

    def _route(self, esc_id: str, severity: str, message: str) -> None:
        boxes = ["mayor"] + (["human"] if SEVERITIES.index(severity) >= SEVERITIES.index("high") else [])
        for box in boxes:
            self.mail_send(box, f"[{severity}] escalation {esc_id}", message, sender="system", thread=esc_id)
        self.conn.execute("UPDATE escalations SET last_routed_at = ? WHERE bead_id = ?", (self.now(), esc_id))

    def escalation_get(self, key: str) -> Row:
        bead = self.bead_get(key)
        row = self._one("SELECT * FROM escalations WHERE bead_id = ?", (bead["id"],))
        if row is None:
            raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not an escalation")
        return {**bead, **row, "id": bead["id"]}

    def escalation_list(self, *, all_: bool = False) -> list[Row]:
        sql = "SELECT bead_id FROM escalations" + ("" if all_ else " WHERE acknowledged = 0") + " ORDER BY rowid"
        return [self.escalation_get(r[0]) for r in self.conn.execute(sql)]

    def escalation_ack(self, key: str, *, actor: str | None) -> Row:
        with self.conn:
            esc = self.escalation_get(key)
            if not esc["acknowledged"]:
                self.conn.execute("UPDATE escalations SET acknowledged = 1, acknowledged_at = ?, acknowledged_by = ? "
                                  "WHERE bead_id = ?", (self.now(), actor, esc["id"]))
                self._set_status(self.bead_row(esc["id"]), BeadStatus.CLOSED, actor=actor, reason="acknowledged")
        return self.escalation_get(esc["id"])

    def reescalate(self, esc_id: str) -> Row:
        """One level up (at most critical), routed again; the count is stored."""
        with self.conn:
            esc = self.escalation_get(esc_id)
            new = SEVERITIES[min(SEVERITIES.index(esc["severity"]) + 1, len(SEVERITIES) - 1)]
            self.conn.execute("UPDATE escalations SET severity = ?, reescalation_count = reescalation_count + 1 "
                              "WHERE bead_id = ?", (new, esc_id))
            self._event(esc_id, EventType.REESCALATED, actor="patrol", old=esc["severity"], new=new)
            self._route(esc_id, new, f"(unacknowledged, raised to {new}) {esc['body']}")
        return self.escalation_get(esc_id)

    # ------------------------------------------------------------ patrol state
    def patrol_get(self, key: str) -> Any:
        raw = self.conn.execute("SELECT value FROM patrol_state WHERE key = ?", (key,)).get
        return json.loads(raw) if raw else None

    def patrol_set(self, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO patrol_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                              "value = excluded.value", (key, json.dumps(value)))

    # ----------------------------------------------------------- patrol verbs
    def agent_quarantine(self, agent_name: str, restarts: int) -> Row:
        """A crash-looping agent stops getting work (until `gt agent reset`), with one escalation."""
        with self.conn:
            agent = self._agent(agent_name)
            if agent["status"] in ("quarantined", "stopped"):
                return agent
            if agent["hook_bead_id"]:
                self._unhook_to_open(agent, {"code": FailureCode.QUARANTINED, "message": f"agent {agent_name} crashed "
                                             f"{restarts} times in an hour", "source": "patrol"}, restart=False)
            if agent["status"] not in ("idle", "failed"):
                self._set_agent_status(agent, AgentStatus.IDLE)
            self._set_agent_status(agent, AgentStatus.QUARANTINED, reason=f"{restarts} restarts in an hour")
            self.escalation_create(f"agent {agent_name} is quarantined after {restarts} crashes in an hour; "
                                   f"see 'gt agent logs {agent_name}', then 'gt agent reset {agent_name}'",
                                   severity="high", source="patrol", category="crash_loop")
        return self._agent(agent_name)

    def zombie_clear(self, agent_name: str, reason: str) -> Row:
        """Working with nothing to work on, or hooked to finished work: unhook and idle."""
        with self.conn:
            agent = self._agent(agent_name)
            if agent["hook_bead_id"]:
                hooked = self.bead_row(agent["hook_bead_id"])
                if not BeadStatus(hooked["status"]).terminal:
                    return agent  # not a zombie any more
                self.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent_name,))
                self._event(hooked["id"], EventType.UNHOOKED, actor="patrol", old=agent_name, meta={"reason": reason})
            if agent["status"] in ("working", "starting", "stalled"):
                self._set_agent_status(agent, AgentStatus.IDLE, reason=f"zombie: {reason}", actor="patrol")
        return self._agent(agent_name)

    def report_stranded(self, bead_ids: list[str]) -> None:
        with self.conn:
            now = self.now()
            for bead_id in bead_ids:
                self._event(bead_id, EventType.STRANDED, actor="patrol", meta={"reason": "ready but no polecat capacity"})
                self.conn.execute("INSERT INTO patrol_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                                  "value = excluded.value", (f"stranded:{bead_id}", json.dumps(now)))

    def escalations_to_notify(self) -> list[Row]:
        """High/critical escalation events not yet announced to the human (cursor in patrol_state)."""
        cursor = int(self.patrol_get("notify_seq") or 0)
        rows = list(self._rows(
            "SELECT seq, bead_id FROM bead_events WHERE seq > ? AND event_type IN ('escalated', 'reescalated') "
            "AND new_value IN ('high', 'critical') ORDER BY seq", (cursor,)))
        out = [self.escalation_get(r["bead_id"]) for r in rows]
        if rows:
            self.patrol_set("notify_seq", rows[-1]["seq"])
        return out

    def nudge_turn_begin(self, agent_name: str) -> Row:
        with self.conn:
            agent = self._agent(agent_name)
            if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
                raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is not idle")
            self._set_agent_status(agent, AgentStatus.STARTING, reason="nudged")
        return self._agent(agent_name)

    def container_died(self, payload: dict[str, Any]) -> None:
        with self.conn:
            self._event(None, EventType.CONTAINER_DIED, actor="runtime", meta=payload)
