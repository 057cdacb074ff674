"""An agent's turns on the bead on its hook: dispatch, start, exit, giving the bead back
when a turn fails, and the human's stop and reset."""

from __future__ import annotations

import json
import signal as _signal
from typing import Any

from gastown.daemon.store import ledger
from gastown.daemon.store.agents import agent_create, agent_row, set_agent_status
from gastown.daemon.store.beads import bead_row
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.escalations import escalation_create
from gastown.daemon.store.hooks import hook, unhook
from gastown.daemon.store.review import set_review
from gastown.daemon.store.statuses import set_status
from gastown.model import AgentStatus, BeadStatus, BeadType, EventType, FailureCode, Role
from gastown.protocol import ErrorCode, RpcError

RESTART_WINDOW_S = 3600


def dispatch_begin(db: Db, bead_id: str, agent_name: str | None, *, rig: str, adapter: str) -> tuple[Row, Row]:
    """Hook a ready bead on an idle polecat (a new one when `agent_name` is None).

    Re-checks everything the reconciler saw, inside the transaction, so a stale
    decision fails cleanly instead of double-assigning (the claim races of beads #4657).
    """
    with db.conn:
        bead = bead_row(db, bead_id)
        if bead["status"] != BeadStatus.OPEN.value or bead["assignee"]:
            raise RpcError(ErrorCode.CONFLICT, f"bead {bead_id} is no longer dispatchable")
        if agent_name is None:
            agent = agent_create(db, role=Role.POLECAT.value, rig=rig, adapter=adapter)
        else:
            agent = agent_row(db, agent_name)
            if agent["status"] != AgentStatus.IDLE.value or agent["hook_bead_id"]:
                raise RpcError(ErrorCode.CONFLICT, f"agent {agent_name} is not idle")
            if agent["adapter"] != adapter:
                db.conn.execute("UPDATE agents SET adapter = ? WHERE name = ?", (adapter, agent_name))
                agent["adapter"] = adapter
        db.conn.execute(
            "UPDATE beads SET assignee = ?, dispatch_attempts = dispatch_attempts + 1, last_dispatch_at = ? "
            "WHERE id = ?", (agent["name"], db.now(), bead_id))
        set_status(db, bead, BeadStatus.IN_PROGRESS, actor="system")
        db.conn.execute("UPDATE agents SET status_message = NULL, status_at = NULL WHERE name = ?", (agent["name"],))
        hook(db, agent, bead_id)
        set_agent_status(db, agent, AgentStatus.STARTING)
    return agent_row(db, agent["name"]), bead_row(db, bead_id)


def note_turn(db: Db, agent_name: str, *, turn_dir: str, token_hash: str, worktree: str, branch: str) -> None:
    """The agent's new turn: where it runs, its token's hash, one more turn counted. The
    caller holds the transaction and sets the status that goes with it."""
    db.conn.execute(
        "UPDATE agents SET turn_dir = ?, turn_started_at = ?, turn_ended_at = NULL, turns = turns + 1, "
        "token_hash = ?, worktree = ?, branch = ? WHERE name = ?",
        (turn_dir, db.now(), token_hash, worktree, branch, agent_name))


def turn_started(db: Db, agent_name: str, *, turn_dir: str, token_hash: str, worktree: str, branch: str) -> None:
    with db.conn:
        agent = agent_row(db, agent_name)
        note_turn(db, agent_name, turn_dir=turn_dir, token_hash=token_hash, worktree=worktree, branch=branch)
        set_agent_status(db, agent, AgentStatus.WORKING)


def give_back(db: Db, agent: Row, failure: dict[str, Any], *, restart: bool) -> None:
    """An attempt failed: the hooked bead goes back (open, with the failure reason; a merge
    request under review is marked review-missing), the agent is unhooked and idles. With
    `restart` the failure counts toward crash loops and the breaker. The caller holds the
    transaction."""
    bead_id = agent["hook_bead_id"]
    if bead_id and bead_row(db, bead_id)["type"] == BeadType.MERGE_REQUEST.value:
        set_review(db, bead_id, {"state": "missing", "agent": agent["name"], "why": failure["message"]})
    elif bead_id:
        bead = bead_row(db, bead_id)
        if not BeadStatus(bead["status"]).terminal:
            db.conn.execute("UPDATE beads SET assignee = NULL WHERE id = ?", (bead_id,))
            set_status(db, bead, BeadStatus.OPEN, actor="system", reason=failure["message"], failure=failure)
    unhook(db, agent, reason=failure["message"], failure=failure)
    restarts = [t for t in agent["restarts"] if t > db.clock().timestamp() - RESTART_WINDOW_S]
    if restart:
        restarts.append(db.clock().timestamp())
    db.conn.execute("UPDATE agents SET restarts = ? WHERE name = ?", (json.dumps(restarts), agent["name"]))
    set_agent_status(db, agent, AgentStatus.IDLE, reason=failure["message"])


def dispatch_failed(db: Db, agent_name: str, failure: dict[str, Any]) -> None:
    with db.conn:
        agent = agent_row(db, agent_name)
        if AgentStatus(agent["status"]) == AgentStatus.STARTING:
            set_agent_status(db, agent, AgentStatus.FAILED, reason=failure["message"])
        give_back(db, agent, failure, restart=True)  # counts toward crash loops and the breaker


def fail_bead(db: Db, bead_id: str, failure: dict[str, Any]) -> None:
    """A bead that exhausted its attempts: failed, with the structured reason."""
    with db.conn:
        bead = bead_row(db, bead_id)
        if not BeadStatus(bead["status"]).terminal:
            set_status(db, bead, BeadStatus.FAILED, actor="system", reason=failure["message"], failure=failure)
            if failure.get("code") == FailureCode.DISPATCH_EXHAUSTED:  # one escalation, as for rework_exhausted
                escalation_create(db, f"{bead_id} failed: {failure['message']}; see 'gt bead show {bead_id}', "
                                  f"then 'gt bead retry {bead_id} --reason ...'", severity="high",
                                  source="dispatcher", bead_id=bead_id, category="dispatch")


def turn_exited(db: Db, agent_name: str, *, exit_code: int | None, session_id: str | None = None,
                tokens_in: int = 0, tokens_out: int = 0, output_tail: str = "",
                ending: dict[str, Any] | None = None, said: str = "", tokens_cached: int = 0,
                model: str = "", session_lost: bool = False) -> str:
    """Record a finished turn (and its usage in the ledger, same transaction); a hooked
    agent that exited without `gt done` gives its bead back. Returns what happened:
    'done', 'crashed', 'no_done' or 'stopped'. `ending` is how the runner saw it end
    (signal, lost, stopped, timed_out); `said` is a status line from the agent's own words,
    kept when it set none with `gt status`. `session_lost`: the CLI could not resume the
    session it was given, so it is forgotten and the next turn starts a fresh one."""
    with db.conn:
        if session_lost:  # the CLI may still print the id it failed to find
            session_id = None
            db.conn.execute("UPDATE agents SET session_id = NULL, session_bead_id = NULL WHERE name = ?",
                            (agent_name,))
        ledger.record_turn(db, agent_row(db, agent_name), exit_code=exit_code, tokens_in=tokens_in,
                           tokens_out=tokens_out, tokens_cached=tokens_cached, model=model, ended_at=db.now())
        _status_from_output(db, agent_name, said)
        outcome = _turn_exited(db, agent_name, exit_code, session_id, tokens_in, tokens_out, output_tail,
                               ending or {}, lost=session_lost)
    return outcome


def status_from_output(db: Db, agent_name: str, said: str) -> bool:
    """While a turn runs: the status line from the agent's own words (see below)."""
    with db.conn:
        changed = _status_from_output(db, agent_name, said)
    return changed


def _status_from_output(db: Db, agent_name: str, said: str) -> bool:
    """Set the status from output unless the agent set one itself with `gt status` during
    this turn. `status_at` stays the time of the agent's own words: a status read from
    output is no sign of progress (the output itself is). True if it changed."""
    agent = agent_row(db, agent_name)
    said = said[:500]
    if not said or said == agent["status_message"]:
        return False
    if agent["status_at"] and agent["turn_started_at"] and agent["status_at"] >= agent["turn_started_at"]:
        return False  # the agent's own words win
    db.conn.execute("UPDATE agents SET status_message = ? WHERE name = ?", (said, agent_name))
    db.event(agent["bead_id"], EventType.AGENT_STATUS_MESSAGE, actor=agent_name, new=said,
             meta={"agent": agent_name, "bead": agent["hook_bead_id"], "source": "output"})
    return True


def _turn_exited(db: Db, agent_name: str, exit_code: int | None, session_id: str | None, tokens_in: int,
                 tokens_out: int, output_tail: str, ending: dict[str, Any], lost: bool = False) -> str:
    agent = agent_row(db, agent_name)
    db.conn.execute(
        "UPDATE agents SET session_id = coalesce(?, session_id), "
        "session_bead_id = CASE WHEN ? IS NULL THEN session_bead_id ELSE ? END, tokens_in = tokens_in + ?, "
        "tokens_out = tokens_out + ?, turn_ended_at = ? WHERE name = ?",
        (session_id, session_id, agent["hook_bead_id"] or agent["last_bead_id"], tokens_in, tokens_out,
         db.now(), agent_name))
    db.event(agent["bead_id"], EventType.TURN_EXITED, actor="system", new=str(exit_code),
             meta={"agent": agent_name, "session_id": session_id, "tokens_in": tokens_in,
                   "tokens_out": tokens_out, "bead": agent["hook_bead_id"] or agent["last_bead_id"],
                   **({"session_lost": True} if lost else {})})
    status = AgentStatus(agent["status"])
    if status == AgentStatus.STOPPED:
        return "stopped"
    if not agent["hook_bead_id"] or status not in (AgentStatus.WORKING, AgentStatus.STARTING, AgentStatus.STALLED):
        if status in (AgentStatus.WORKING, AgentStatus.STARTING):
            set_agent_status(db, agent, AgentStatus.IDLE)
        return "done"
    crashed = exit_code != 0
    code, message = turn_failure(exit_code, ending)
    failure = {"code": code, "message": message, "source": "runner",
               "details": {"agent": agent_name, "exit_code": exit_code, "signal": ending.get("signal"),
                           "output_tail": output_tail[-2000:]}}
    give_back(db, agent, failure, restart=True)
    return "crashed" if crashed else "no_done"


def agent_stop(db: Db, agent_name: str, *, actor: str | None) -> Row:
    """Stopped means stopped: the bead goes back to open and the agent is not restarted."""
    with db.conn:
        agent = agent_row(db, agent_name)
        failure = {"code": FailureCode.STOPPED, "message": f"agent {agent_name} was stopped by {actor or 'a human'}",
                   "source": "human"}
        if agent["hook_bead_id"]:
            give_back(db, agent, failure, restart=False)
        set_agent_status(db, agent, AgentStatus.STOPPED, reason=failure["message"], actor=actor)
    return agent_row(db, agent_name)


def agent_reset(db: Db, agent_name: str, *, actor: str | None, failure: dict[str, Any] | None = None) -> Row:
    """Back to idle with clean counters and a revoked token; the worktree is kept."""
    with db.conn:
        agent = agent_row(db, agent_name)
        if agent["hook_bead_id"]:
            give_back(db, agent, failure or {"code": FailureCode.RESET, "message": f"agent {agent_name} was reset",
                                             "source": "human"}, restart=False)
        db.conn.execute("UPDATE agents SET restarts = '[]', token_hash = NULL, session_id = NULL "
                        "WHERE name = ?", (agent_name,))
        set_agent_status(db, agent, AgentStatus.IDLE, reason="reset", actor=actor)
    return agent_row(db, agent_name)


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
