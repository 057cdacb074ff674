"""Convoys: a batch of beads created atomically from a plan, optionally staged for the
human to edit before it starts; it lands when every member is merged.

Progress is always recounted from the members (`_recount_convoys` runs inside the one
status-transition function), never bumped on a side path.
"""

from __future__ import annotations

import json
import tomllib
from collections import deque
from typing import Any

from gastown.daemon import integration
from gastown.daemon.comms import CommsStore
from gastown.daemon.store import Row
from gastown.model import BeadStatus, BeadType, DepType, EventType
from gastown.protocol import ErrorCode, RpcError

STATUSES = ("open", "in_progress", "in_review", "closed", "failed")


def parse_plan(text: str) -> dict[str, Any]:
    """A batch file: TOML, or JSON of the same shape."""
    stripped = text.lstrip()
    try:
        plan = json.loads(text) if stripped.startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"batch file is neither valid TOML nor JSON: {exc}") from None
    return check_plan(plan)


PLAN_KEYS = ("title", "rig", "beads", "merge_mode")
BEAD_KEYS = ("id", "title", "body", "rig", "priority", "depends_on", "script", "agent", "review_script")


def _known_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """A misspelt key (`depends-on`, `prority`) would silently do nothing: refuse it."""
    import difflib

    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: unknown key '{key}'"
                           + (f" (did you mean '{close[0]}'?)" if close else f": use {', '.join(allowed)}"))


def check_plan(plan: Any) -> dict[str, Any]:
    """Validate the shape and order the beads with Kahn's algorithm before anything is written."""
    if not isinstance(plan, dict) or not isinstance(plan.get("beads"), list) or not plan["beads"]:
        raise RpcError(ErrorCode.INVALID_PARAMS, "a batch needs a non-empty [[beads]] list")
    _known_keys(plan, PLAN_KEYS, "the batch")
    local: dict[str, dict[str, Any]] = {}
    for i, b in enumerate(plan["beads"]):
        if not isinstance(b, dict) or not isinstance(b.get("title"), str) or not b["title"].strip():
            raise RpcError(ErrorCode.INVALID_PARAMS, f"bead {i + 1} of the batch needs a title")
        key = str(b.get("id") or f"#{i + 1}")
        _known_keys(b, BEAD_KEYS, f"bead '{key}'")
        if key in local:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"duplicate local id '{key}' in the batch")
        for field in ("depends_on", "script"):
            if not isinstance(b.get(field, []), list):
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}': {field} must be a list")
        local[key] = b
    for key, b in local.items():
        for dep in b.get("depends_on", []):
            if str(dep) not in local:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}' depends on '{dep}', which is not in the batch")
    indegree = {k: len(b.get("depends_on", [])) for k, b in local.items()}
    users: dict[str, list[str]] = {k: [] for k in local}
    for k, b in local.items():
        for dep in b.get("depends_on", []):
            users[str(dep)].append(k)
    queue, order = deque(k for k, n in indegree.items() if n == 0), []
    while queue:
        k = queue.popleft()
        order.append(k)
        for user in users[k]:
            indegree[user] -= 1
            if indegree[user] == 0:
                queue.append(user)
    if len(order) != len(local):
        stuck = sorted(k for k, n in indegree.items() if n > 0)
        raise RpcError(ErrorCode.CONFLICT, f"dependency cycle among {', '.join(stuck)} in the batch")
    mode = plan.get("merge_mode") or "review-and-merge"
    if mode not in integration.MODES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"merge_mode must be {' or '.join(integration.MODES)}, not {mode!r}")
    return {"title": str(plan.get("title") or "convoy"), "order": order, "beads": local,
            "rig": plan.get("rig"), "merge_mode": mode}


class ConvoyStore(CommsStore):
    def convoy_create(self, plan: dict[str, Any], *, staged: bool, actor: str | None,
                      requested_by: str | None) -> Row:
        """The convoy and all its beads in one transaction: all or nothing."""
        with self.conn:
            convoy = self.bead_create(plan["title"], type=BeadType.CONVOY.value, created_by=actor,
                                      requested_by=requested_by, metadata={"local_ids": {}})
            self.conn.execute("INSERT INTO convoys(bead_id, staged, merge_mode) VALUES (?, ?, ?)",
                              (convoy["id"], int(staged), plan.get("merge_mode") or "review-and-merge"))
            ids: dict[str, str] = {}
            for key in plan["order"]:
                b = plan["beads"][key]
                rig = b.get("rig") or plan.get("rig")
                if not rig:
                    raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}' has no rig (and the batch names none)")
                meta = {k: b[k] for k in ("script", "agent", "review_script") if b.get(k)}
                meta["convoy"] = convoy["id"]
                bead = self.bead_create(b["title"], rig=str(rig), body=str(b.get("body") or ""),
                                        priority=int(b.get("priority", 2)), metadata=meta, created_by=actor,
                                        requested_by=requested_by,
                                        depends_on=[ids[str(d)] for d in b.get("depends_on", [])])
                self._dep_insert(bead["id"], convoy["id"], DepType.TRACKS, actor)
                ids[key] = bead["id"]
            self.conn.execute("UPDATE beads SET metadata = ? WHERE id = ?",
                              (json.dumps({"local_ids": ids}), convoy["id"]))
            self._recount_convoys(next(iter(ids.values())))
            self._event(convoy["id"], EventType.CONVOY_CREATED, actor=actor, meta={"beads": ids, "staged": staged})
        return self.convoy_get(convoy["id"])

    def convoy_get(self, key: str) -> Row:
        bead = self.bead_get(key)
        row = self._one("SELECT * FROM convoys WHERE bead_id = ?", (bead["id"],))
        if row is None:
            raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not a convoy")
        members = [self.bead_row(d["id"]) for d in bead["dependents"] if d["type"] == DepType.TRACKS.value]
        progress = {s: 0 for s in STATUSES}
        for m in members:
            progress[m["status"]] += 1
        for m in members:
            m["depends_on"] = [d[0] for d in self.conn.execute(
                "SELECT depends_on FROM bead_dependencies WHERE bead_id = ? AND type = 'blocks'", (m["id"],))]
        return {**bead, "staged": bool(row["staged"]), "landed_at": row["landed_at"], "total": len(members),
                "merge_mode": row["merge_mode"],
                "progress": progress, "members": members}

    def convoy_list(self) -> list[Row]:
        return [self.convoy_get(r[0]) for r in self.conn.execute(
            "SELECT c.bead_id FROM convoys c JOIN beads b ON b.id = c.bead_id ORDER BY b.created_at")]

    def convoy_start(self, key: str, *, actor: str | None) -> Row:
        with self.conn:
            convoy = self.convoy_get(key)
            if not convoy["staged"]:
                raise RpcError(ErrorCode.INVALID_STATE, f"convoy {convoy['id']} is not staged")
            self.conn.execute("UPDATE convoys SET staged = 0 WHERE bead_id = ?", (convoy["id"],))
            self._event(convoy["id"], EventType.CONVOY_STARTED, actor=actor)
        return self.convoy_get(convoy["id"])

    def convoy_close(self, key: str, *, actor: str | None, reason: str) -> tuple[Row, list[str]]:
        """Force-close: unfinished members close too and their agents are unhooked. Returns
        the convoy and the agents whose turns the caller must stop."""
        with self.conn:
            convoy = self.convoy_get(key)
            # the convoy closes first, so closing its members below is not taken for a landing
            self._set_status(self.bead_row(convoy["id"]), BeadStatus.CLOSED, actor=actor, reason=reason)
            agents = []
            for m in convoy["members"]:
                if BeadStatus(m["status"]).terminal:
                    continue
                row = self._one("SELECT name FROM agents WHERE hook_bead_id = ?", (m["id"],))
                if row:
                    agents.append(row["name"])
                    self.zombie_free(row["name"], m["id"])
                self._set_status(self.bead_row(m["id"]), BeadStatus.CLOSED, actor=actor,
                                 reason=f"convoy {convoy['id']} closed: {reason}")
            self.conn.execute("UPDATE convoys SET staged = 0 WHERE bead_id = ?", (convoy["id"],))
        return self.convoy_get(convoy["id"]), agents

    def zombie_free(self, agent_name: str, bead_id: str) -> None:
        """Unhook an agent from a bead that is being closed under it; it goes idle."""
        from gastown.model import AgentStatus

        agent = self._agent(agent_name)
        self.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent_name,))
        self._event(bead_id, EventType.UNHOOKED, actor="system", old=agent_name, meta={"reason": "convoy closed"})
        if agent["status"] != AgentStatus.IDLE.value:
            self._set_agent_status(agent, AgentStatus.IDLE, reason="convoy closed")

    def _recount_convoys(self, bead_id: str) -> None:
        """Recount, then land: a convoy whose members are all closed (merged) is closed."""
        super()._recount_convoys(bead_id)
        for (convoy_id,) in list(self.conn.execute(
                "SELECT d.depends_on FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on "
                "WHERE d.bead_id = ? AND d.type = 'tracks' AND c.total_beads > 0 "
                "AND c.total_beads = c.closed_beads AND c.landed_at IS NULL", (bead_id,))):
            convoy = self.bead_row(convoy_id)
            if BeadStatus(convoy["status"]).terminal:
                continue
            if integration.is_integration(self, convoy_id) and integration.open_landing(self, convoy_id):
                continue  # it lands when its landing merge request merges
            self.conn.execute("UPDATE convoys SET landed_at = ? WHERE bead_id = ?", (self.now(), convoy_id))
            self._set_status(convoy, BeadStatus.CLOSED, actor="refinery", reason="landed: every member merged")
            self._event(convoy_id, EventType.CONVOY_LANDED, actor="refinery")

    def mr_merged(self, mr_id: str, *, merge_commit: str, landed_on: str, gates: list[dict[str, Any]],
                  message: str) -> Row:
        """A merge; a convoy's landing merge also marks the convoy landed."""
        with self.conn:
            mr = super().mr_merged(mr_id, merge_commit=merge_commit, landed_on=landed_on, gates=gates,
                                   message=message)
            integration.landed(self, mr)
        return mr

    # -------------------------------------------------------------------- mayor
    def mayor_agent(self, adapter: str) -> Row:
        """The town's one mayor, created on first use; its adapter follows mayor.adapter."""
        row = self._one("SELECT name FROM agents WHERE name = 'mayor'", ())
        if row is None:
            return self.agent_create(role="mayor", rig=None, adapter=adapter, name="mayor")
        if self._agent("mayor")["adapter"] != adapter:
            with self.conn:
                self.conn.execute("UPDATE agents SET adapter = ? WHERE name = 'mayor'", (adapter,))
        return self._agent("mayor")

    def mayor_message(self, text: str, *, human: str) -> Row:
        """A human's chat message to the mayor, recorded with who sent it; the mayor turns busy."""
        from gastown.model import AgentStatus

        with self.conn:
            mayor = self._agent("mayor")
            if mayor["status"] != AgentStatus.IDLE.value or (mayor["turn_dir"] and not mayor["turn_ended_at"]):
                raise RpcError(ErrorCode.CONFLICT, "the mayor is still answering the previous message")
            msg = self.bead_create(text.strip().splitlines()[0][:200] if text.strip() else "(empty)",
                                   type=BeadType.MESSAGE.value, body=text, created_by=human, requested_by=human,
                                   metadata={"from": human, "to": "mayor", "kind": "chat"})
            self.conn.execute("UPDATE beads SET assignee = 'mayor' WHERE id = ?", (msg["id"],))
            self._set_agent_status(mayor, AgentStatus.STARTING, reason=f"message from {human}")
        return self.bead_row(msg["id"])

    def mayor_requester(self) -> str | None:
        """The human the mayor is serving: the sender of its latest chat message."""
        value = self.conn.execute(
            "SELECT requested_by FROM beads WHERE type = 'message' AND assignee = 'mayor' "
            "AND json_extract(metadata, '$.kind') = 'chat' ORDER BY created_at DESC, rowid DESC LIMIT 1").get
        return str(value) if value else None

    def mayor_history(self, limit: int = 50) -> list[Row]:
        rows = list(self._rows(
            "SELECT id FROM beads WHERE type = 'message' AND json_extract(metadata, '$.kind') IN ('chat', 'reply') "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)))
        return [self.bead_row(r["id"]) for r in reversed(rows)]

    def mayor_reply(self, text: str, *, to: str, thread: str | None) -> Row:
        """Archive the mayor's answer in the `human` mailbox, marked read (it was shown in the
        chat), with the human who asked as requested_by."""
        with self.conn:
            msg = self.bead_create(text.strip().splitlines()[0][:200] if text.strip() else "(no reply)",
                                   type=BeadType.MESSAGE.value, body=text, created_by="mayor", requested_by=to,
                                   metadata={"from": "mayor", "to": "human", "kind": "reply",
                                             **({"thread": thread} if thread else {})})
            self.conn.execute("UPDATE beads SET assignee = 'human' WHERE id = ?", (msg["id"],))
            self._set_status(self.bead_row(msg["id"]), BeadStatus.CLOSED, actor="mayor", reason="shown in chat")
        return self.bead_row(msg["id"])

    # ------------------------------------------------------------------- triage
    def triage_begin(self, agent: str, bead_id: str, adapter: str, per_hour: int) -> Row | None:
        """Open a triage case for a stuck agent, unless the hourly cap is used up or a case
        is still open. Returns the triage agent, or None (then the caller escalates)."""
        from gastown.model import AgentStatus

        with self.conn:
            state = self.patrol_get("triage") or {"runs": [], "open": None}
            hour_ago = self.clock().timestamp() - 3600
            runs = [t for t in state["runs"] if t > hour_ago]
            if state.get("open") or len(runs) >= per_hour:
                return None
            row = self._one("SELECT name FROM agents WHERE name = 'triage'", ())
            triage = self._agent("triage") if row else self.agent_create(role="triage", rig=None, adapter=adapter,
                                                                          name="triage")
            if triage["status"] != AgentStatus.IDLE.value or (triage["turn_dir"] and not triage["turn_ended_at"]):
                return None
            self.patrol_set("triage", {"runs": [*runs, self.clock().timestamp()],
                                       "open": {"agent": agent, "bead": bead_id}})
            self._set_agent_status(triage, AgentStatus.STARTING, reason=f"triage of {agent}")
            self._event(bead_id, EventType.TRIAGE_REQUESTED, actor="patrol", meta={"agent": agent})
        return self._agent("triage")

    def triage_verdict(self, verdict: str, reason: str) -> dict[str, Any]:
        """Record the verdict and close the case; the caller carries it out."""
        with self.conn:
            state = self.patrol_get("triage") or {}
            case: dict[str, Any] | None = state.get("open")
            if not case:
                raise RpcError(ErrorCode.INVALID_STATE, "there is no open triage case")
            self.patrol_set("triage", {**state, "open": None})
            self._event(case["bead"], EventType.TRIAGE_RESOLVED, actor="triage", new=verdict,
                        meta={"agent": case["agent"], "reason": reason})
            resolved = {**case, "verdict": verdict, "reason": reason}
        return resolved

    def triage_abandon(self) -> None:
        """A triage turn that ended without a verdict closes its case: no triage of triage."""
        with self.conn:
            state = self.patrol_get("triage") or {}
            if state.get("open"):
                self._event(state["open"]["bead"], EventType.TRIAGE_ABANDONED, actor="patrol", meta=state["open"])
                self.patrol_set("triage", {**state, "open": None})

    # -------------------------------------------------------------------- costs
    def costs(self) -> dict[str, Any]:
        """Tokens per bead, per convoy and per agent, summed from the turns' exit events."""
        per_bead: dict[str, dict[str, Any]] = {}
        per_agent: dict[str, dict[str, int]] = {}
        for bead_id, agent, t_in, t_out in self.conn.execute(
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
            row = self._one("SELECT title, status, json_extract(metadata, '$.convoy') AS convoy FROM beads WHERE id = ?",
                            (bead_id,))
            if row is None:
                continue
            usage.update(title=row["title"], status=row["status"])
            if row["convoy"]:
                c = per_convoy.setdefault(row["convoy"], {"tokens_in": 0, "tokens_out": 0, "turns": 0})
                for k in ("tokens_in", "tokens_out", "turns"):
                    c[k] += usage[k]
        return {"beads": per_bead, "convoys": per_convoy, "agents": per_agent}
