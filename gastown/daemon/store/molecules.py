"""Molecules: a formula poured into the store -- a `molecule` bead with one step bead per
step, in one transaction.

One model, two ways to run it. `beads`: the molecule is a convoy of its steps (a row in
`convoys`: staging, progress and landing are the convoy's); agent steps are ordinary issue
beads dispatched as their `needs` (blocking edges) close and merged on their own; `run`
steps are executed by the daemon, `approval` steps wait for `gt bead approve`. `single`:
the molecule itself is the dispatched bead; one polecat works the steps in order on one
branch (`gt step done` advances), and the molecule closes when that branch merges.

A step bead's `metadata.worker` names who works it when it is not a polecat picking it
from the ready list: `daemon` (run steps), `human` (approval steps), `molecule` (every
step of a single-mode molecule); the ready rule skips such beads. A failed step fails its
beads-mode molecule through `statuses` (a status change sets it off).
"""

from __future__ import annotations

import json
from typing import Any

from gastown.daemon.store import holds
from gastown.daemon.store.agents import agent_row, set_agent_status
from gastown.daemon.store.beads import bead_create, bead_get, bead_row, resolve
from gastown.daemon.store.convoys import convoy_start
from gastown.daemon.store.db import Db, Row
from gastown.daemon.store.hooks import unhook
from gastown.daemon.store.links import link
from gastown.daemon.store.rigs import rig_get
from gastown.daemon.store.statuses import recount_convoys, set_status
from gastown.model import AgentStatus, BeadStatus, BeadType, DepType, EventType, FailureCode
from gastown.protocol import ErrorCode, RpcError

MODES = ("beads", "single")
STAGED = "staged: start it with gt molecule start"


def waiting(step_meta: dict[str, Any]) -> str:
    """The hold reason of a single-mode molecule waiting on an approval step."""
    return f"waiting for approval of step {step_meta.get('step')}"


def molecule_pour(db: Db, spec: dict[str, Any], *, actor: str | None, requested_by: str | None) -> Row:
    """The molecule and every step bead, all or nothing. `spec` was validated by the
    caller (vars bound, needs acyclic, personas resolved and snapshotted)."""
    mode, rig, staged = spec["mode"], spec["rig"], bool(spec.get("staged"))
    if mode not in MODES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"mode must be beads or single, not '{mode}'")
    with db.conn:
        rig_get(db, rig)
        meta = {"formula": spec["formula"], "formula_type": spec["type"], "mode": mode, "vars": spec["vars"],
                "source": spec["source"], **spec.get("persona", {})}
        mol = bead_create(db, spec["title"], type=BeadType.MOLECULE.value, rig=rig, body=spec["description"],
                          created_by=actor, requested_by=requested_by, metadata=meta)
        if staged and mode == "single":  # staged: held (a steer hold) until `gt molecule start`
            holds.mark_held(db, mol["id"], reason=STAGED, actor=actor)
        if mode == "beads":
            db.conn.execute("INSERT INTO convoys(bead_id, staged) VALUES (?, ?)", (mol["id"], int(staged)))
        ids: dict[str, str] = {}
        for step in spec["steps"]:
            worker = "molecule" if mode == "single" else {"run": "daemon", "approval": "human"}.get(step["kind"])
            smeta: dict[str, Any] = {"molecule": mol["id"], "step": step["id"], "step_kind": step["kind"],
                                     "acceptance": step["acceptance"], **step.get("persona", {})}
            if worker:
                smeta["worker"] = worker
            if step["kind"] == "run":
                smeta.update(run=step["run"], timeout=step["timeout"])
            if step.get("script"):
                smeta["script"] = step["script"]
            bead = bead_create(db, step["title"], rig=rig, body=step["description"], metadata=smeta,
                               created_by=actor, requested_by=requested_by,
                               depends_on=[ids[n] for n in step["needs"]])
            link(db, bead["id"], mol["id"], DepType.TRACKS, actor)
            ids[step["id"]] = bead["id"]
        db.conn.execute("UPDATE beads SET metadata = json_set(metadata, '$.steps', json(?)) WHERE id = ?",
                        (json.dumps(ids), mol["id"]))
        recount_convoys(db, next(iter(ids.values())))
        db.event(mol["id"], EventType.MOLECULE_POURED, actor=actor,
                 meta={"formula": spec["formula"], "mode": mode, "steps": ids, "staged": staged})
    return molecule_get(db, mol["id"])


def _molecule(db: Db, key: str) -> Row:
    bead = bead_row(db, resolve(db, key))
    if bead["type"] != BeadType.MOLECULE.value:
        raise RpcError(ErrorCode.NOT_FOUND, f"{bead['id']} is not a molecule")
    return bead


def _steps(db: Db, mol: Row) -> list[Row]:
    out = []
    for sid, bead_id in mol["metadata"].get("steps", {}).items():
        b = bead_row(db, bead_id)
        m = b["metadata"]
        needs = [bead_row(db, d[0])["metadata"].get("step") for d in db.conn.execute(
            "SELECT depends_on FROM bead_dependencies WHERE bead_id = ? AND type = 'blocks'", (bead_id,))]
        out.append({"id": b["id"], "step": sid, "kind": m.get("step_kind", "agent"), "title": b["title"],
                    "status": b["status"], "who": _who(db, b), "needs": needs,
                    "summary": m.get("summary") or _done_summary(db, b["id"]) or "",
                    "persona": m.get("persona"), "run": m.get("run"), "result": m.get("result"),
                    "failure": b["failure_reason"], "molecule": mol["id"]})
    return out


def _who(db: Db, bead: Row) -> str:
    m = bead["metadata"]
    if m.get("approved_by"):
        return str(m["approved_by"])
    if m.get("worked_by"):
        return str(m["worked_by"])
    if bead["assignee"]:
        return str(bead["assignee"])
    last = db.conn.execute("SELECT new_value FROM bead_events WHERE bead_id = ? AND event_type = 'hooked' "
                           "ORDER BY seq DESC LIMIT 1", (bead["id"],)).get
    return str(last) if last else {"daemon": "daemon", "human": "human"}.get(m.get("worker", ""), "")


def _done_summary(db: Db, bead_id: str) -> str | None:
    meta = db.conn.execute("SELECT metadata FROM bead_events WHERE bead_id = ? AND event_type = 'agent_done' "
                           "ORDER BY seq DESC LIMIT 1", (bead_id,)).get
    return json.loads(meta).get("summary") if meta else None


def molecule_get(db: Db, key: str) -> Row:
    mol = _molecule(db, key)
    steps = _steps(db, mol)
    current = next((s for s in steps if s["status"] != BeadStatus.CLOSED.value), None)
    failed = next((s["step"] for s in steps if s["status"] == BeadStatus.FAILED.value), None)
    if mol["status"] == BeadStatus.FAILED.value and failed is None and current is not None:
        failed = current["step"]  # single mode: the molecule failed while on this step
    convoy = db.one("SELECT staged, landed_at FROM convoys WHERE bead_id = ?", (mol["id"],))
    staged = bool(convoy["staged"]) if convoy else (mol["metadata"].get("hold") or {}).get("reason") == STAGED
    return {**mol, "mode": mol["metadata"].get("mode"), "formula": mol["metadata"].get("formula"),
            "staged": staged, "landed_at": convoy["landed_at"] if convoy else mol["closed_at"],
            "steps": steps, "current": current["step"] if current and mode_single(mol) else None,
            "failed_step": failed}


def molecule_list(db: Db) -> list[Row]:
    return [molecule_get(db, r[0]) for r in db.conn.execute(
        "SELECT id FROM beads WHERE type = 'molecule' ORDER BY created_at, id")]


def molecule_start(db: Db, key: str, *, actor: str | None) -> Row:
    with db.conn:
        mol = _molecule(db, key)
        if mode_single(mol):
            if (mol["metadata"].get("hold") or {}).get("reason") != STAGED:
                raise RpcError(ErrorCode.INVALID_STATE, f"molecule {mol['id']} is not staged")
            holds.unmark(db, mol, actor)
            db.event(mol["id"], EventType.MOLECULE_STARTED, actor=actor)
        else:
            convoy_start(db, mol["id"], actor=actor)
    return molecule_get(db, mol["id"])


def bead_approve(db: Db, key: str, *, actor: str | None) -> Row:
    """A human releases an approval step: it closes; a single-mode molecule waiting on
    it is dispatched again."""
    with db.conn:
        bead = bead_row(db, resolve(db, key))
        if bead["metadata"].get("step_kind") != "approval":
            raise RpcError(ErrorCode.INVALID_STATE, f"{bead['id']} is not an approval step")
        if bead["status"] != BeadStatus.OPEN.value:
            raise RpcError(ErrorCode.INVALID_STATE, f"approval step {bead['id']} is {bead['status']}, not open")
        blockers = [r[0] for r in db.conn.execute(
            "SELECT d.depends_on FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on "
            "WHERE d.bead_id = ? AND d.type = 'blocks' AND t.status != 'closed'", (bead["id"],))]
        if blockers:
            raise RpcError(ErrorCode.INVALID_STATE,
                           f"approval step {bead['id']} still waits for {', '.join(blockers)}")
        db.conn.execute("UPDATE beads SET metadata = json_set(metadata, '$.approved_by', ?) WHERE id = ?",
                        (actor or "human", bead["id"]))
        db.event(bead["id"], EventType.APPROVED, actor=actor)
        set_status(db, bead, BeadStatus.CLOSED, actor=actor, reason=f"approved by {actor or 'a human'}")
        mol = bead_row(db, bead["metadata"]["molecule"])
        if mode_single(mol) and (mol["metadata"].get("hold") or {}).get("reason") == waiting(bead["metadata"]):
            holds.unmark(db, mol, actor)  # a hold for another reason stays
            db.event(mol["id"], EventType.MOLECULE_RESUMED, actor=actor, meta={"step": bead["metadata"]["step"]})
    return bead_get(db, bead["id"])


def runnable_steps(db: Db) -> list[Row]:
    """Run steps of started, unfinished beads-mode molecules whose needs are closed
    (in_progress ones too: a daemon that died mid-run runs them again -- checks are
    idempotent)."""
    rows = db.rows(
        "SELECT b.id FROM beads b WHERE b.type = 'issue' AND b.status IN ('open', 'in_progress') "
        "AND json_extract(b.metadata, '$.worker') = 'daemon' "
        "AND NOT EXISTS (SELECT 1 FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on "
        "  WHERE d.bead_id = b.id AND d.type = 'blocks' AND t.status != 'closed') "
        "AND NOT EXISTS (SELECT 1 FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on "
        "  JOIN beads m ON m.id = c.bead_id WHERE d.bead_id = b.id AND d.type = 'tracks' "
        "  AND (c.staged = 1 OR m.status IN ('closed', 'failed'))) ORDER BY b.created_at, b.id")
    return [bead_row(db, r["id"]) for r in rows]


def step_run_begin(db: Db, bead_id: str) -> Row:
    with db.conn:
        bead = bead_row(db, bead_id)
        set_status(db, bead, BeadStatus.IN_PROGRESS, actor="daemon")
        db.event(bead_id, EventType.STEP_RUN_STARTED, actor="daemon", meta={"cmd": bead["metadata"].get("run")})
    return bead_row(db, bead_id)


def step_run_result(db: Db, bead_id: str, result: dict[str, Any], *, fail: bool) -> Row:
    """Record a run step's exit code and output; pass closes it. A failure fails it
    (beads mode) or leaves it open with the reason (single mode: the polecat fixes the
    work and runs the check again with `gt step done`)."""
    with db.conn:
        bead = bead_row(db, bead_id)
        db.conn.execute("UPDATE beads SET metadata = json_set(metadata, '$.result', json(?)) WHERE id = ?",
                        (json.dumps(result), bead_id))
        db.event(bead_id, EventType.STEP_RUN_FINISHED, actor="daemon", new=str(result["exit_code"]),
                 meta={k: result[k] for k in ("exit_code", "duration_s", "timed_out")})
        if result["exit_code"] == 0:
            set_status(db, bead, BeadStatus.CLOSED, actor="daemon",
                       reason=f"`{result['cmd']}` passed in {result['duration_s']} s")
        else:
            step = bead["metadata"].get("step")
            message = f"step {step}: `{result['cmd']}` exited with {result['exit_code']}"
            failure: dict[str, Any] = {"code": FailureCode.RUN_FAILED, "message": message, "source": "daemon",
                       "details": {"step": step, "exit_code": result["exit_code"],
                                   "output_tail": result["output_tail"][-2000:]}}
            set_status(db, bead, BeadStatus.FAILED if fail else BeadStatus.OPEN, actor="daemon",
                       reason=message, failure=failure)
    return bead_row(db, bead_id)


def hooked_molecule(db: Db, agent_name: str) -> tuple[Row, Row]:
    agent = agent_row(db, agent_name)
    if not agent["hook_bead_id"]:
        raise RpcError(ErrorCode.INVALID_STATE, "nothing on your hook")
    mol = bead_row(db, agent["hook_bead_id"])
    if mol["type"] != BeadType.MOLECULE.value or not mode_single(mol):
        raise RpcError(ErrorCode.INVALID_STATE, f"{mol['id']} on your hook is not a single-mode molecule: "
                       "there are no steps to advance (use `gt done`)")
    return agent, mol


def current_step(db: Db, mol: Row) -> Row | None:
    for bead_id in mol["metadata"].get("steps", {}).values():
        b = bead_row(db, bead_id)
        if b["status"] != BeadStatus.CLOSED.value:
            return b
    return None


def step_done(db: Db, agent_name: str, summary: str, request_id: str | None = None) -> Row | None:
    """`gt step done`: close the current agent step with its summary; return the step
    that is now current (None: every step is done). A current run step is returned as
    it is, for the caller to run (again). A retry of the same request (the daemon
    restarted under the call) closes nothing more."""
    with db.conn:
        agent, mol = hooked_molecule(db, agent_name)
        if request_id and db.conn.execute(
                "SELECT 1 FROM bead_events WHERE bead_id = ? AND event_type = 'step_done' "
                "AND json_extract(metadata, '$.request_id') = ?", (mol["id"], request_id)).get:
            return current_step(db, mol)
        cur = current_step(db, mol)
        if cur is None:
            raise RpcError(ErrorCode.INVALID_STATE, "every step is done: run `gt done`")
        kind = cur["metadata"].get("step_kind")
        if kind == "approval":
            raise RpcError(ErrorCode.INVALID_STATE, f"step {cur['metadata']['step']} waits for a human approval")
        if kind == "agent":
            db.conn.execute("UPDATE beads SET metadata = json_set(metadata, '$.summary', ?, '$.worked_by', ?) "
                            "WHERE id = ?", (summary, agent_name, cur["id"]))
            set_status(db, cur, BeadStatus.CLOSED, actor=agent_name, reason=summary or "step done")
            db.event(mol["id"], EventType.STEP_DONE, actor=agent_name,
                     meta={"step": cur["metadata"]["step"], "summary": summary,
                           **({"request_id": request_id} if request_id else {})})
        now = db.now()  # progress: the GUPP ladder starts again for the next step
        db.conn.execute("UPDATE agents SET last_activity_at = ?, status_message = ?, status_at = ? "
                        "WHERE name = ?", (now, f"step {cur['metadata']['step']} done", now, agent_name))
        nxt = current_step(db, bead_row(db, mol["id"]))
    return nxt


def molecule_wait(db: Db, agent_name: str, step_id: str) -> None:
    """The single-mode molecule reached an approval step: it goes back to open, held,
    and its polecat goes idle with its worktree kept; `gt bead approve` releases it."""
    with db.conn:
        agent, mol = hooked_molecule(db, agent_name)
        db.conn.execute("UPDATE beads SET assignee = NULL, dispatch_attempts = 0 WHERE id = ?", (mol["id"],))
        holds.mark_held(db, mol["id"], reason=waiting({"step": step_id}), actor="system")
        mol = bead_row(db, mol["id"])
        set_status(db, mol, BeadStatus.OPEN, actor="system", reason=f"waiting for approval of {step_id}")
        db.event(mol["id"], EventType.WAITING_APPROVAL, actor=agent_name, meta={"step": step_id})
        unhook(db, agent, actor=agent_name, reason=f"waiting for approval of {step_id}")
        set_agent_status(db, agent, AgentStatus.IDLE, reason=f"waiting for approval of {step_id}")


def done_check(db: Db, agent_name: str) -> None:
    """`gt done` on a single-mode molecule only once every step is closed."""
    agent = agent_row(db, agent_name)
    if not agent["hook_bead_id"]:
        return
    mol = bead_row(db, agent["hook_bead_id"])
    if mol["type"] == BeadType.MOLECULE.value and mode_single(mol):
        cur = current_step(db, mol)
        if cur is not None:
            raise RpcError(ErrorCode.INVALID_STATE, f"step {cur['metadata']['step']} of {mol['id']} is not done: "
                           "finish it and run `gt step done` first")


def mode_single(mol: Row) -> bool:
    return bool(mol["metadata"].get("mode") == "single")
