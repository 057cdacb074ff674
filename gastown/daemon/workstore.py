"""Agents, hooks, turns, merge requests and the reconciler's inbox, on top of the bead store.

Agents are beads (type `agent`) with a row in `agents`. Every agent status change goes
through `_set_agent_status`, which checks the state machine and writes the event, the
same way bead statuses go through `_set_status`.
"""

from __future__ import annotations

import json
import signal as _signal
from typing import Any

from gastown.daemon import ledger
from gastown.daemon.store import Row, TownStore, not_found
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, Role, agent_transition_allowed, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

NAME_POOL = ("toast", "maple", "birch", "cedar", "fern", "hazel", "juniper", "larch", "moss", "nettle",
             "olive", "pine", "quince", "rowan", "sage", "thistle", "umber", "willow", "yarrow", "zinnia")
RESTART_WINDOW_S = 3600
MERGED = "merged"


def outcome(mr: dict[str, Any]) -> str:
    """What happened to a merge request, as `gt mq list` shows it: its bead's status, except
    that a closed MR with a merge commit was merged (closed without one: superseded, its
    source already done, or its pull request closed unmerged)."""
    return MERGED if mr["status"] == "closed" and mr.get("merge_commit") else str(mr["status"])


class WorkStore(TownStore):
    # ------------------------------------------------------------------- agents
    def _agent(self, name: str) -> Row:
        row = self._one("SELECT * FROM agents WHERE name = ?", (name,))
        if row is None:
            raise not_found("agent", name)
        row["restarts"] = json.loads(row["restarts"])
        return row

    def agent_get(self, name: str) -> Row:
        agent = self._agent(name)
        agent["id"] = agent["name"]
        agent["hook"] = self.bead_row(agent["hook_bead_id"]) if agent["hook_bead_id"] else None
        return agent

    def agent_list(self, *, rig: str | None = None, role: str | None = None) -> list[Row]:
        where, args = [], []
        if rig:
            where.append("rig = ?")
            args.append(rig)
        if role:
            where.append("role = ?")
            args.append(role)
        sql = "SELECT * FROM agents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at"
        out = []
        for row in self._rows(sql, args):
            row["restarts"] = json.loads(row["restarts"])
            row["id"] = row["name"]
            out.append(row)
        return out

    def agent_by_token(self, token_hash: str) -> Row | None:
        row = self._one("SELECT * FROM agents WHERE token_hash = ?", (token_hash,))
        if row is not None:
            row["restarts"] = json.loads(row["restarts"])
        return row

    def token_live(self, agent_name: str, token_hash: str) -> bool:
        """The token is still this agent's and its turn has not ended: checked on every
        request of an agent connection (a primary-key read), so a token dies with its turn
        even on a connection opened while the turn was live."""
        row = self._one("SELECT token_hash, turn_ended_at FROM agents WHERE name = ?", (agent_name,))
        return row is not None and row["token_hash"] == token_hash and not row["turn_ended_at"]

    def _next_name(self) -> str:
        taken = {r[0] for r in self.conn.execute("SELECT name FROM agents")}
        for name in NAME_POOL:
            if name not in taken:
                return name
        n = 1
        while f"polecat-{n}" in taken:
            n += 1
        return f"polecat-{n}"

    def agent_create(self, *, role: str, rig: str | None, adapter: str, name: str | None = None) -> Row:
        Role(role)
        name = name or self._next_name()
        with self.conn:
            if self._one("SELECT 1 AS x FROM agents WHERE name = ?", (name,)):
                raise RpcError(ErrorCode.ALREADY_EXISTS, f"agent '{name}' already exists")
            bead = self.bead_create(name, type=BeadType.AGENT.value, rig=rig, created_by="system",
                                    metadata={"role": role})
            self.conn.execute(
                "INSERT INTO agents(bead_id, name, role, rig, adapter, status, created_at) VALUES (?, ?, ?, ?, ?, 'idle', ?)",
                (bead["id"], name, role, rig, adapter, self.now()),
            )
        return self._agent(name)

    def _set_agent_status(self, agent: Row, new: AgentStatus, *, reason: str | None = None,
                          actor: str | None = "system") -> None:
        old = AgentStatus(agent["status"])
        if old == new:
            return
        if not agent_transition_allowed(old, new):
            raise RpcError(ErrorCode.CONFLICT, f"agent {agent['name']} is {old.value}; cannot become {new.value}")
        now = self.now()
        self.conn.execute("UPDATE agents SET status = ?, last_activity_at = ? WHERE name = ?",
                          (new.value, now, agent["name"]))
        self._event(agent["bead_id"], EventType.AGENT_STATUS, actor=actor, old=old.value, new=new.value,
                    meta={"agent": agent["name"], **({"reason": reason} if reason else {})})
        agent["status"] = new.value

    # ----------------------------------------------------------------- dispatch
    def dispatch_begin(self, bead_id: str, agent_name: str | None, *, rig: str, adapter: str) -> tuple[Row, Row]:
        """Hook a ready bead on an idle polecat (a new one when `agent_name` is None).

        Re-checks everything the reconciler saw, inside the transaction, so a stale
        decision fails cleanly instead of double-assigning (the claim races of beads #4657).
        """
        with self.conn:
            bead = self.bead_row(bead_id)
            if bead["status"] != BeadStatus.OPEN.value or bead["assignee"]:
                raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} is no longer dispatchable")
            if agent_name is None:
                agent = self.agent_create(role=Role.POLECAT.value, rig=rig, adapter=adapter)
            else:
                agent = self._agent(agent_name)
                if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
                    raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is not idle")
                if agent["adapter"] != adapter:
                    self.conn.execute("UPDATE agents SET adapter = ? WHERE name = ?", (adapter, agent_name))
                    agent["adapter"] = adapter
            now = self.now()
            self.conn.execute(
                "UPDATE beads SET assignee = ?, dispatch_attempts = dispatch_attempts + 1, last_dispatch_at = ? "
                "WHERE id = ?", (agent["name"], now, bead_id))
            self._set_status(bead, BeadStatus.IN_PROGRESS, actor="system")
            self.conn.execute("UPDATE agents SET hook_bead_id = ?, last_bead_id = ?, status_message = NULL, "
                              "status_at = NULL WHERE name = ?", (bead_id, bead_id, agent["name"]))
            self._event(bead_id, EventType.HOOKED, actor="system", new=agent["name"])
            self._set_agent_status(agent, AgentStatus.STARTING)
        return self._agent(agent["name"]), self.bead_row(bead_id)

    def turn_started(self, agent_name: str, *, turn_dir: str, token_hash: str, worktree: str, branch: str) -> None:
        with self.conn:
            agent = self._agent(agent_name)
            self.conn.execute(
                "UPDATE agents SET turn_dir = ?, turn_started_at = ?, turn_ended_at = NULL, turns = turns + 1, "
                "token_hash = ?, worktree = ?, branch = ? WHERE name = ?",
                (turn_dir, self.now(), token_hash, worktree, branch, agent_name))
            self._set_agent_status(agent, AgentStatus.WORKING)

    def _unhook_to_open(self, agent: Row, failure: dict[str, Any], *, restart: bool) -> None:
        """Give the hooked bead back (open, with the failure reason) and idle the agent."""
        bead_id = agent["hook_bead_id"]
        if bead_id and self.bead_row(bead_id)["type"] == BeadType.MERGE_REQUEST.value:
            self._set_review(bead_id, {"state": "missing", "agent": agent["name"], "why": failure["message"]})
        elif bead_id:
            bead = self.bead_row(bead_id)
            if not BeadStatus(bead["status"]).terminal:
                self.conn.execute("UPDATE beads SET assignee = NULL WHERE id = ?", (bead_id,))
                self._set_status(bead, BeadStatus.OPEN, actor="system", reason=failure["message"], failure=failure)
        if bead_id:
            self._event(bead_id, EventType.UNHOOKED, actor="system", old=agent["name"], meta={"failure_reason": failure})
        restarts = [t for t in agent["restarts"] if t > self.clock().timestamp() - RESTART_WINDOW_S]
        if restart:
            restarts.append(self.clock().timestamp())
        self.conn.execute("UPDATE agents SET hook_bead_id = NULL, restarts = ? WHERE name = ?",
                          (json.dumps(restarts), agent["name"]))
        agent["hook_bead_id"] = None
        self._set_agent_status(agent, AgentStatus.IDLE, reason=failure["message"])

    def dispatch_failed(self, agent_name: str, failure: dict[str, Any]) -> None:
        with self.conn:
            agent = self._agent(agent_name)
            if AgentStatus(agent["status"]) == AgentStatus.STARTING:
                self._set_agent_status(agent, AgentStatus.FAILED, reason=failure["message"])
            self._unhook_to_open(agent, failure, restart=True)  # counts toward crash loops and the breaker

    def fail_bead(self, bead_id: str, failure: dict[str, Any]) -> None:
        """A bead that exhausted its attempts: failed, with the structured reason."""
        with self.conn:
            bead = self.bead_row(bead_id)
            if not BeadStatus(bead["status"]).terminal:
                self._set_status(bead, BeadStatus.FAILED, actor="system", reason=failure["message"], failure=failure)
                if failure.get("code") == FailureCode.DISPATCH_EXHAUSTED:  # one escalation, as for rework_exhausted
                    self.escalation_create(f"{bead_id} failed: {failure['message']}; see 'gt bead show {bead_id}', "
                                           f"then 'gt bead retry {bead_id} --reason ...'", severity="high",
                                           source="dispatcher", bead_id=bead_id, category="dispatch")

    # --------------------------------------------------------------------- turns
    def turn_exited(self, agent_name: str, *, exit_code: int | None, session_id: str | None = None,
                    tokens_in: int = 0, tokens_out: int = 0, output_tail: str = "",
                    ending: dict[str, Any] | None = None, said: str = "", tokens_cached: int = 0,
                    model: str = "", session_lost: bool = False) -> str:
        """Record a finished turn (and its usage in the ledger, same transaction); a hooked
        agent that exited without `gt done` gives its bead back. Returns what happened:
        'done', 'crashed', 'no_done' or 'stopped'. `ending` is how the runner saw it end
        (signal, lost, stopped, timed_out); `said` is a status line from the agent's own words,
        kept when it set none with `gt status`. `session_lost`: the CLI could not resume the
        session it was given, so it is forgotten and the next turn starts a fresh one."""
        with self.conn:
            if session_lost:  # the CLI may still print the id it failed to find
                session_id = None
                self.conn.execute("UPDATE agents SET session_id = NULL, session_bead_id = NULL WHERE name = ?",
                                  (agent_name,))
            ledger.record_turn(self, self._agent(agent_name), exit_code=exit_code, tokens_in=tokens_in,
                               tokens_out=tokens_out, tokens_cached=tokens_cached, model=model, ended_at=self.now())
            self._status_from_output(agent_name, said)
            outcome = self._turn_exited(agent_name, exit_code, session_id, tokens_in, tokens_out, output_tail,
                                        ending or {}, lost=session_lost)
        return outcome

    def status_from_output(self, agent_name: str, said: str) -> bool:
        """While a turn runs: the status line from the agent's own words (see below)."""
        with self.conn:
            changed = self._status_from_output(agent_name, said)
        return changed

    def _status_from_output(self, agent_name: str, said: str) -> bool:
        """Set the status from output unless the agent set one itself with `gt status` during
        this turn. `status_at` stays the time of the agent's own words: a status read from
        output is no sign of progress (the output itself is). True if it changed."""
        agent = self._agent(agent_name)
        said = said[:500]
        if not said or said == agent["status_message"]:
            return False
        if agent["status_at"] and agent["turn_started_at"] and agent["status_at"] >= agent["turn_started_at"]:
            return False  # the agent's own words win
        self.conn.execute("UPDATE agents SET status_message = ? WHERE name = ?", (said, agent_name))
        self._event(agent["bead_id"], EventType.AGENT_STATUS_MESSAGE, actor=agent_name, new=said,
                    meta={"agent": agent_name, "bead": agent["hook_bead_id"], "source": "output"})
        return True

    def _turn_exited(self, agent_name: str, exit_code: int | None, session_id: str | None, tokens_in: int,
                     tokens_out: int, output_tail: str, ending: dict[str, Any], lost: bool = False) -> str:
        agent = self._agent(agent_name)
        self.conn.execute(
            "UPDATE agents SET session_id = coalesce(?, session_id), "
            "session_bead_id = CASE WHEN ? IS NULL THEN session_bead_id ELSE ? END, tokens_in = tokens_in + ?, "
            "tokens_out = tokens_out + ?, turn_ended_at = ? WHERE name = ?",
            (session_id, session_id, agent["hook_bead_id"] or agent["last_bead_id"], tokens_in, tokens_out,
             self.now(), agent_name))
        self._event(agent["bead_id"], EventType.TURN_EXITED, actor="system", new=str(exit_code),
                    meta={"agent": agent_name, "session_id": session_id, "tokens_in": tokens_in,
                          "tokens_out": tokens_out, "bead": agent["hook_bead_id"] or agent["last_bead_id"],
                          **({"session_lost": True} if lost else {})})
        status = AgentStatus(agent["status"])
        if status == AgentStatus.STOPPED:
            return "stopped"
        if not agent["hook_bead_id"] or status not in (AgentStatus.WORKING, AgentStatus.STARTING,
                                                       AgentStatus.STALLED):
            if status in (AgentStatus.WORKING, AgentStatus.STARTING):
                self._set_agent_status(agent, AgentStatus.IDLE)
            return "done"
        crashed = exit_code != 0
        code, message = turn_failure(exit_code, ending)
        failure = {"code": code, "message": message, "source": "runner",
                   "details": {"agent": agent_name, "exit_code": exit_code, "signal": ending.get("signal"),
                               "output_tail": output_tail[-2000:]}}
        self._unhook_to_open(agent, failure, restart=True)
        return "crashed" if crashed else "no_done"

    # ---------------------------------------------------------------- agent tools
    def agent_done(self, agent_name: str, *, summary: str, head_sha: str, branch: str, target_branch: str,
                   commits: int, turn_dir: str | None = None, request_id: str | None = None) -> Row:
        """`gt done`: the merge request and the hand-off, in one transaction (gascity #1289).
        The turn and request id are kept on the MR so a repeated `done` finds it (turnlog)."""
        with self.conn:
            agent = self._agent(agent_name)
            bead_id = agent["hook_bead_id"]
            if not bead_id:
                raise RpcError(ErrorCode.INVALID_STATE, f"agent {agent_name} has nothing on its hook")
            bead = self.bead_row(bead_id)
            mr = self.bead_create(f"merge {branch}", type=BeadType.MERGE_REQUEST.value, rig=bead["rig"],
                                  body=summary, created_by=agent_name, requested_by=bead["requested_by"],
                                  priority=bead["priority"],
                                  metadata={"source_bead_id": bead_id, "head_sha": head_sha, "commits": commits,
                                            **({"turn_dir": turn_dir} if turn_dir else {}),
                                            **({"request_id": request_id} if request_id else {}),
                                            **({"script": bead["metadata"]["review_script"]}
                                               if bead["metadata"].get("review_script") else {})})
            self.conn.execute(
                "INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha) "
                "VALUES (?, ?, ?, ?, ?, ?)", (mr["id"], bead_id, bead["rig"], branch, target_branch, head_sha))
            self._dep_insert(mr["id"], bead_id, DepType.TRACKS, agent_name)
            self.conn.execute("UPDATE beads SET failure_reason = NULL WHERE id = ?", (bead_id,))
            self._set_status(bead, BeadStatus.IN_REVIEW, actor=agent_name, reason=summary or None)
            self._event(bead_id, EventType.AGENT_DONE, actor=agent_name,
                        meta={"head_sha": head_sha, "branch": branch, "mr": mr["id"], "summary": summary})
            self.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent_name,))
            self._set_agent_status(agent, AgentStatus.IDLE, reason="done")
        return self.bead_get(mr["id"])

    def agent_status_message(self, agent_name: str, message: str) -> None:
        with self.conn:
            agent = self._agent(agent_name)
            now = self.now()
            self.conn.execute("UPDATE agents SET status_message = ?, status_at = ?, last_activity_at = ? "
                              "WHERE name = ?", (message, now, now, agent_name))
            self._event(agent["bead_id"], EventType.AGENT_STATUS_MESSAGE, actor=agent_name, new=message,
                        meta={"agent": agent_name, "bead": agent["hook_bead_id"]})

    def agent_stop(self, agent_name: str, *, actor: str | None) -> Row:
        """Stopped means stopped: the bead goes back to open and the agent is not restarted."""
        with self.conn:
            agent = self._agent(agent_name)
            failure = {"code": FailureCode.STOPPED, "message": f"agent {agent_name} was stopped by {actor or 'a human'}",
                       "source": "human"}
            if agent["hook_bead_id"]:
                self._unhook_to_open(agent, failure, restart=False)
            self._set_agent_status(agent, AgentStatus.STOPPED, reason=failure["message"], actor=actor)
        return self._agent(agent_name)

    def agent_reset(self, agent_name: str, *, actor: str | None, failure: dict[str, Any] | None = None) -> Row:
        """Back to idle with clean counters and a revoked token; the worktree is kept."""
        with self.conn:
            agent = self._agent(agent_name)
            if agent["hook_bead_id"]:
                self._unhook_to_open(agent, failure or {"code": FailureCode.RESET, "message": f"agent {agent_name} was reset",
                                                        "source": "human"}, restart=False)
            self.conn.execute("UPDATE agents SET restarts = '[]', token_hash = NULL, session_id = NULL "
                              "WHERE name = ?", (agent_name,))
            self._set_agent_status(agent, AgentStatus.IDLE, reason="reset", actor=actor)
        return self._agent(agent_name)

    # -------------------------------------------------------------------- inbox
    def inbox_add(self, event_type: str, *, agent: str | None = None, bead: str | None = None,
                  payload: dict[str, Any] | None = None) -> int:
        with self.conn:
            self.conn.execute(
                "INSERT INTO town_events(event_type, agent_id, bead_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                (event_type, agent, bead, json.dumps(payload or {}), self.now()))
            event_id = self.conn.last_insert_rowid()
        return event_id

    def inbox_pending(self, limit: int = 200) -> list[Row]:
        out = []
        for row in self._rows("SELECT * FROM town_events WHERE processed_at IS NULL ORDER BY event_id LIMIT ?",
                              (limit,)):
            row["payload"] = json.loads(row["payload"])
            out.append(row)
        return out

    def inbox_done(self, event_id: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE town_events SET processed_at = ? WHERE event_id = ?", (self.now(), event_id))

    def merge_requests(self, *, status: str | None = None, active: bool = False, rig: str | None = None) -> list[Row]:
        """The queue is a query over MR status (gastown #1102), in queue order."""
        where, args = [], []
        if status == MERGED:
            where.append("b.status = 'closed' AND m.merge_commit IS NOT NULL")
        elif status:
            where.append("b.status = ?")
            args.append(status)
        if active:
            where.append("b.status IN ('open', 'in_progress')")
        if rig:
            where.append("m.rig = ?")
            args.append(rig)
        sql = ("SELECT m.*, b.status, b.title, b.priority, b.created_at, b.updated_at, s.status AS source_status, "
               "json_extract(b.metadata, '$.forge_retry_at') AS retry_at "
               "FROM merge_requests m JOIN beads b ON b.id = m.bead_id JOIN beads s ON s.id = m.source_bead_id"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY b.priority, b.created_at")
        out = []
        for r in self._rows(sql, args):
            r["gates"] = json.loads(r["gates"])
            r["id"] = r["bead_id"]
            r["outcome"] = outcome(r)
            out.append(r)
        return out

    # --------------------------------------------------------------- escalations
    def escalation_create(self, message: str, *, severity: str, source: str | None,
                          bead_id: str | None = None, category: str | None = None) -> Row:
        with self.conn:
            esc = self.bead_create(message[:500], type=BeadType.ESCALATION.value, body=message, created_by=source,
                                   metadata={"source": source, **({"bead": bead_id} if bead_id else {})})
            self.conn.execute("INSERT INTO escalations(bead_id, severity, category) VALUES (?, ?, ?)",
                              (esc["id"], severity, category))
            self._event(esc["id"], EventType.ESCALATED, actor=source, new=severity, meta={"bead": bead_id})
        return {**self.bead_get(esc["id"]), "severity": severity}

    # ------------------------------------------------------------ merge requests
    def mr_get(self, key: str) -> Row:
        bead = self.bead_get(key)
        row = self._one("SELECT * FROM merge_requests WHERE bead_id = ?", (bead["id"],))
        if row is None:
            raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not a merge request")
        row["gates"] = json.loads(row["gates"])
        mr = {**bead, **row, "id": bead["id"]}
        return {**mr, "outcome": outcome(mr)}

    def mr_begin(self, mr_id: str) -> Row:
        with self.conn:
            mr = self.bead_row(mr_id)
            self._set_status(mr, BeadStatus.IN_PROGRESS, actor="refinery")
        return self.mr_get(mr_id)

    def _close_sources(self, mr: Row, source_id: str, merge_commit: str, landed_on: str) -> None:
        source = self.bead_row(source_id)
        if not BeadStatus(source["status"]).terminal:
            self._set_status(source, BeadStatus.CLOSED, actor="refinery",
                             reason=f"merged into {landed_on} at {merge_commit[:12]}")
        for (sibling,) in list(self.conn.execute(
                "SELECT m.bead_id FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
                "WHERE m.source_bead_id = ? AND m.bead_id != ? AND b.status NOT IN ('closed', 'failed')",
                (source_id, mr["id"]))):
            self._set_status(self.bead_row(sibling), BeadStatus.CLOSED, actor="refinery",
                             reason=f"superseded by {mr['id']}")

    def mr_merged(self, mr_id: str, *, merge_commit: str, landed_on: str, gates: list[dict[str, Any]],
                  message: str) -> Row:
        """The MR, its source bead and the source's other MRs close in one transaction
        (gastown #2321: a source left open after its merge gets dispatched again)."""
        with self.conn:
            mr = self.mr_get(mr_id)
            self.conn.execute("UPDATE merge_requests SET merge_commit = ?, gates = ? WHERE bead_id = ?",
                              (merge_commit, json.dumps(gates), mr_id))
            self._set_status(self.bead_row(mr_id), BeadStatus.CLOSED, actor="refinery", reason=message)
            self._event(mr["source_bead_id"], EventType.MERGED, actor="refinery", new=merge_commit,
                        meta={"mr": mr_id, "landed_on": landed_on, "branch": mr["branch"]})
            self._close_sources(mr, mr["source_bead_id"], merge_commit, landed_on)
        return self.mr_get(mr_id)

    def rework_rounds(self, source_id: str) -> int:
        return int(self.conn.execute(
            "SELECT count(*) FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
            "WHERE m.source_bead_id = ? AND b.status = 'failed'", (source_id,)).get or 0)

    def mr_failed(self, mr_id: str, failure: dict[str, Any], *, gates: list[dict[str, Any]],
                  max_retries: int) -> str:
        """A red gate or a conflict: the MR fails and its source goes back for rework with the
        reason, or fails (with an escalation) once its rework rounds are used up."""
        with self.conn:
            mr = self.mr_get(mr_id)
            self.conn.execute("UPDATE merge_requests SET gates = ? WHERE bead_id = ?", (json.dumps(gates), mr_id))
            self._set_status(self.bead_row(mr_id), BeadStatus.FAILED, actor="refinery", reason=failure["message"],
                             failure=failure)
            source = self.bead_row(mr["source_bead_id"])
            if BeadStatus(source["status"]).terminal:
                return "source_terminal"
            rounds = self.rework_rounds(source["id"])
            failure = {**failure, "details": {**failure.get("details", {}), "mr": mr_id, "round": rounds}}
            if rounds > max_retries:
                self._set_status(source, BeadStatus.FAILED, actor="refinery", failure={
                    **failure, "code": FailureCode.REWORK_EXHAUSTED,
                    "message": f"{failure['message']} (after {rounds} merge attempts)"})
                self.escalation_create(f"{source['id']} failed in the merge queue {rounds} times: {failure['message']}",
                                       severity="high", source="refinery", bead_id=source["id"], category="merge")
                return "failed"
            self.conn.execute("UPDATE beads SET assignee = NULL, dispatch_attempts = 0 WHERE id = ?", (source["id"],))
            self._set_status(source, BeadStatus.OPEN, actor="refinery", reason=failure["message"], failure=failure)
            self._event(source["id"], EventType.REWORK_REQUESTED, actor="refinery", meta={"failure_reason": failure})
        return "rework"

    def mr_requeue(self, mr_id: str, reason: str) -> Row:
        """Not the branch's fault (the target moved, the remote was down): back in the queue."""
        with self.conn:
            mr = self.bead_row(mr_id)
            self.conn.execute("UPDATE merge_requests SET retry_count = retry_count + 1 WHERE bead_id = ?", (mr_id,))
            self._set_status(mr, BeadStatus.OPEN, actor="refinery", reason=reason)
        return self.mr_get(mr_id)

    def mr_set_pr(self, mr_id: str, pr_url: str | None) -> None:
        with self.conn:
            self.conn.execute("UPDATE merge_requests SET pr_url = ? WHERE bead_id = ?", (pr_url or "pushed", mr_id))
            self._event(mr_id, EventType.PR_CREATED, actor="refinery", new=pr_url)

    def mq_retry(self, key: str, *, actor: str | None) -> Row:
        """A new MR for a failed one's branch (terminal beads never reopen silently)."""
        with self.conn:
            old = self.mr_get(key)
            if old["status"] != BeadStatus.FAILED.value:
                raise RpcError(ErrorCode.INVALID_STATE, f"{old['id']} is {old['status']}; only a failed MR is retried")
            source = self.bead_row(old["source_bead_id"])
            active = self.conn.execute(
                "SELECT count(*) FROM merge_requests m JOIN beads b ON b.id = m.bead_id "
                "WHERE m.source_bead_id = ? AND b.status NOT IN ('closed', 'failed')", (source["id"],)).get
            if BeadStatus(source["status"]).terminal or active or source["assignee"]:
                raise RpcError(ErrorCode.INVALID_STATE,
                               f"source {source['id']} is {source['status']}"
                               f"{' with an active merge request' if active else ''}; nothing to retry")
            mr = self.bead_create(old["title"], type=BeadType.MERGE_REQUEST.value, rig=old["rig"], body=old["body"],
                                  created_by=actor, requested_by=source["requested_by"], priority=old["priority"],
                                  metadata={**old["metadata"], "retry_of": old["id"]})
            self.conn.execute(
                "INSERT INTO merge_requests(bead_id, source_bead_id, rig, branch, target_branch, head_sha) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (mr["id"], source["id"], old["rig"], old["branch"], old["target_branch"], old["head_sha"]))
            self._dep_insert(mr["id"], source["id"], DepType.TRACKS, actor)
            self._set_status(source, BeadStatus.IN_REVIEW, actor=actor, reason=f"merge retried as {mr['id']}")
        return self.mr_get(mr["id"])

    # ------------------------------------------------------------------- review
    def _set_review(self, mr_id: str, review: dict[str, Any]) -> None:
        meta = self.bead_row(mr_id)["metadata"]
        history = meta.get("reviews", [])
        if review["state"] != "pending":
            history = [*history, review]
        self.conn.execute("UPDATE beads SET metadata = ?, updated_at = ? WHERE id = ?",
                          (json.dumps({**meta, "review": review, "reviews": history}), self.now(), mr_id))
        self._event(mr_id, EventType("review_" + review["state"]), actor=review.get("agent"), meta=review)

    def review_agent(self, rig: str, adapter: str) -> Row:
        """The rig's single refinery agent, created on first use."""
        name = f"refinery-{rig}"
        row = self._one("SELECT name FROM agents WHERE name = ?", (name,))
        if row is None:
            return self.agent_create(role=Role.REFINERY.value, rig=rig, adapter=adapter, name=name)
        return self._agent(name)

    def agent_set_adapter(self, agent_name: str, adapter: str) -> None:
        """An idle agent's next turns use another agent CLI (its persona changed)."""
        with self.conn:
            old = self._agent(agent_name)["adapter"]
            self.conn.execute("UPDATE agents SET adapter = ?, session_id = NULL WHERE name = ?", (adapter, agent_name))
            self._event(self._agent(agent_name)["bead_id"], EventType.AGENT_ADAPTER, actor="system", old=old, new=adapter)

    def review_begin(self, mr_id: str, agent_name: str) -> Row:
        with self.conn:
            agent = self._agent(agent_name)
            if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
                raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is busy")
            self.conn.execute("UPDATE agents SET hook_bead_id = ?, last_bead_id = ? WHERE name = ?",
                              (mr_id, mr_id, agent_name))
            self._set_review(mr_id, {"state": "pending", "agent": agent_name})
            self._set_agent_status(agent, AgentStatus.STARTING)
        return self._agent(agent_name)

    def review_verdict(self, agent_name: str, verdict: str, reason: str) -> Row:
        with self.conn:
            agent = self._agent(agent_name)
            mr_id = agent["hook_bead_id"]
            if not mr_id or self.bead_row(mr_id)["type"] != BeadType.MERGE_REQUEST.value:
                raise RpcError(ErrorCode.INVALID_STATE, "no merge request on your hook to review")
            state = "approved" if verdict == "approve" else "changes_requested"
            self._set_review(mr_id, {"state": state, "agent": agent_name, "why": reason})
            self.conn.execute("UPDATE agents SET hook_bead_id = NULL WHERE name = ?", (agent_name,))
            self._set_agent_status(agent, AgentStatus.IDLE, reason=f"review: {state}")
        return self.mr_get(mr_id)


def turn_failure(exit_code: int | None, ending: dict[str, Any]) -> tuple[FailureCode, str]:
    """(code, message) of a hooked turn that ended without `gt done`, saying honestly why:
    killed by a signal from outside, a runner that vanished, a timeout, a crash, or a clean
    exit that forgot `gt done`. Never "status None"."""
    sig = ending.get("signal")
    if ending.get("lost") or (exit_code is None and not sig):
        return (FailureCode.RUNNER_LOST, "the turn's runner vanished without recording how the agent ended "
                               "(killed, or the machine restarted)")
    if ending.get("timed_out"):
        return FailureCode.TIMED_OUT, "the agent's turn ran past its timeout and was stopped"
    if ending.get("stopped"):
        return FailureCode.AGENT_KILLED, "the turn's runner was told to stop by a signal from outside Gastown"
    if sig:
        return FailureCode.AGENT_KILLED, f"the agent was killed by {signal_name(int(sig))} from outside Gastown"
    if exit_code is not None and exit_code - 128 in KILL_SIGNALS:  # it caught the signal and exited 128+N
        return FailureCode.AGENT_KILLED, (f"the agent ended on {signal_name(exit_code - 128)} from outside Gastown "
                                f"(exit status {exit_code})")
    if exit_code != 0:
        return FailureCode.AGENT_CRASHED, f"the agent's turn exited with status {exit_code}"
    return FailureCode.EXITED_WITHOUT_DONE, "the agent's turn ended without 'gt done'"


KILL_SIGNALS = frozenset({_signal.SIGHUP, _signal.SIGINT, _signal.SIGKILL, _signal.SIGTERM})


def signal_name(sig: int) -> str:
    try:
        return f"{_signal.Signals(sig).name} (signal {sig})"
    except ValueError:
        return f"signal {sig}"
