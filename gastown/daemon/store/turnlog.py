"""Intent before effect for agent turns, and the idempotent `gt done`.

A dispatch writes the turn (its directory, the token's hash, the bead's attempt) into the
store BEFORE the runner is spawned, so a daemon that dies at any moment of a dispatch
finds, on restart, either:
- no recorded turn on a `starting` agent: the turn never started; the bead is released
  (open again, reason `never_started`) and the agent idles (`release_never_started`);
- a recorded turn: the runner is alive (adopted: the agent is marked working), finished
  (its status is read as usual), or it left no status at all within the start-up grace
  (never started: released the same way, its token revoked).

The alarm loop checks this every tick (`stranded_agents`): no agent stays `starting` or
`working` without a live or finished turn for more than a few seconds.

`gt done` is keyed by the turn: the merge request records the turn directory and the head
it was handed in at, and a repeated `done` of the same turn (the agent's call was cut by a
daemon restart and retried) gets the original merge request back (`done_replay`).

These are store functions over `Db`, each one transaction, called as `turnlog.fn(store, ...)`.
"""

from __future__ import annotations

from datetime import timedelta

from gastown.daemon.store.agents import agent_list, agent_row, set_agent_status
from gastown.daemon.store.beads import bead_get
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.turns import give_back, note_turn
from gastown.model import AgentStatus, EventType, FailureCode

START_GRACE_S = 15.0
"""An agent `starting` with no turn recorded for it this long never started (turns started
outside the dispatcher, such as the mayor's, record theirs only once spawned)."""
RUNNER_GRACE_S = 8.0
"""A recorded turn whose runner has written no status this long after it was recorded
never started: spawning gives a runner 5 s to write it, then fails the dispatch anyway
(runner.spawn_detached); this bounds recovery after a crash between record and spawn."""


def turn_recorded(db: Db, agent_name: str, *, turn_dir: str, token_hash: str, worktree: str,
                  branch: str, attempt: int | None = None) -> None:
    """Record the turn about to be spawned; the agent stays `starting` until it runs."""
    with db.conn:
        agent = agent_row(db, agent_name)
        note_turn(db, agent_name, turn_dir=turn_dir, token_hash=token_hash, worktree=worktree, branch=branch)
        db.event(agent["bead_id"], EventType.TURN_RECORDED, actor="system", new=turn_dir,
                 meta={"agent": agent_name, "bead": agent["hook_bead_id"], "attempt": attempt})


def turn_running(db: Db, agent_name: str, turn_dir: str) -> bool:
    """The recorded turn runs: `starting` becomes `working`. False if the turn is no longer
    the agent's current one (released meanwhile)."""
    with db.conn:
        agent = agent_row(db, agent_name)
        current = agent["turn_dir"] == turn_dir and not agent["turn_ended_at"]
        if current and agent["status"] == AgentStatus.STARTING.value:
            set_agent_status(db, agent, AgentStatus.WORKING)
    return current


def release_never_started(db: Db, agent_name: str, reason: str) -> bool:
    """A turn that never started: the bead goes back to open with the reason (not counted
    as the agent's crash), the token is revoked, the agent idles. False if the agent was
    no longer `starting`/`working` (nothing to release)."""
    with db.conn:
        agent = agent_row(db, agent_name)
        releasable = agent["status"] in (AgentStatus.STARTING.value, AgentStatus.WORKING.value)
        if releasable:
            _release(db, agent, reason)
    return releasable


def _release(db: Db, agent: Row, reason: str) -> None:
    failure = {"code": FailureCode.NEVER_STARTED, "message": reason, "source": "dispatcher"}
    db.conn.execute("UPDATE agents SET token_hash = NULL, turn_ended_at = coalesce(turn_ended_at, ?) "
                    "WHERE name = ?", (db.now(), agent["name"]))
    if agent["hook_bead_id"]:
        give_back(db, agent, failure, restart=False)
    else:
        set_agent_status(db, agent, AgentStatus.IDLE, reason=reason)


def stranded_agents(db: Db, opened: str | None = None) -> list[Row]:
    """Agents `starting` with no recorded turn of their own (the recorded one, if any, is
    from an earlier turn) for longer than the start-up grace: the invariant's suspects. The
    grace covers turns started outside the loop's dispatch (a mayor message, a review, a
    nudge or a triage turn), which become `starting` a moment before their turn is recorded;
    the loop also skips the dispatches it is running right now. An agent that became
    `starting` before this loop opened (`opened`, a store timestamp) was left by a daemon
    that died: nothing of this one is starting it, so no grace applies (fast recovery)."""
    cutoff = (db.clock() - timedelta(seconds=START_GRACE_S)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if opened is not None:
        cutoff = max(cutoff, opened)
    return [a for a in agent_list(db)
            if a["status"] == AgentStatus.STARTING.value and (not a["turn_dir"] or a["turn_ended_at"])
            and (a["last_activity_at"] or "") < cutoff]


def done_replay(db: Db, agent_name: str, turn_dir: str | None, head: str | None,
                request_id: str | None) -> Row | None:
    """The merge request this turn already handed in at this head (or under this request
    id), if any: a repeated `gt done` gets it back instead of a second one."""
    if not turn_dir:
        return None
    row = db.one(
        "SELECT id, json_extract(metadata, '$.head_sha') AS head, json_extract(metadata, '$.request_id') AS rid "
        "FROM beads WHERE type = 'merge_request' AND created_by = ? AND json_extract(metadata, '$.turn_dir') = ? "
        "ORDER BY created_at DESC LIMIT 1", (agent_name, turn_dir))
    if row is None:
        return None
    if (head is not None and row["head"] == head) or (request_id and row["rid"] == request_id):
        return bead_get(db, row["id"])
    return None

