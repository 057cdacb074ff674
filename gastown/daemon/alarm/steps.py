"""Working molecule steps: what a polecat's prompt shows of its molecule, typed `run`
steps executed by the daemon, and `gt step done` in single mode.

Run steps go through the merge queue's gate runner (`mergequeue.gate_runner`: the town
container in a container town, else the host inside the agents' bubblewrap sandbox, with
the same environment, timeout handling and output capture), so a formula's checks run
exactly where and how the merge gates run. Beads mode runs them in a fresh detached worktree of the rig's
target branch (every earlier step has merged there); single mode in the polecat's own
worktree (the molecule's one branch).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.daemon.runtime import Runtime
from gastown.daemon.runtime import hostgates
from gastown.daemon.vcs.gates import Gate, GateRunner
from gastown.daemon.vcs import git, refinery, riglock
from gastown.daemon.alarm import mergequeue
from gastown.daemon.store import Store
from gastown.daemon.store.molecules import mode_single
from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.daemon.alarm.loop import TownLoop
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.steps")


# ---------------------------------------------------------------------- prompts
def _step_text(step: dict[str, Any], index: int, total: int) -> str:
    m = step["metadata"]
    lines = [f"### Step {index}/{total}: {m.get('step')} -- {step['title']}"]
    if m.get("step_kind") == "run":
        lines.append(f"A check the daemon runs for you on your committed work: `{m.get('run')}` (its exit code "
                     "decides). Run `gt step done` to run it.")
    elif m.get("step_kind") == "approval":
        lines.append("A human approves this step (`gt bead approve`); your turn ends here.")
    if step.get("body"):
        lines.append(step["body"])
    if m.get("acceptance"):
        lines.append(f"Done when: {m['acceptance']}")
    if m.get("persona_instructions"):
        lines.append(f"How to work this step: {m['persona_instructions']}")
    if step.get("failure_reason") and step["status"] == "open":
        f = step["failure_reason"]
        lines.append(f"The last attempt failed: {f.get('message')}\n{(f.get('details') or {}).get('output_tail', '')}")
    return "\n".join(lines)


def prompt_view(store: Store, bead: dict[str, Any]) -> dict[str, Any]:
    """The bead as its polecat's prompt should see it: a step of a beads-mode molecule gets
    its place in the molecule and the summaries of the steps it needs; a single-mode
    molecule gets its step list, what is done (with summaries), and the current step.
    A persona's instructions are added; the scripted stand-in gets the remaining steps'
    commands, each followed by `gt step done`."""
    meta = bead["metadata"]
    body = bead.get("body") or ""
    extra: list[str] = []
    if meta.get("molecule"):
        mol = store.molecule_get(meta["molecule"])
        extra.append(f"## Part of molecule {mol['id']} (formula {mol['formula']}): step {meta.get('step')}")
        mine = next(s for s in mol["steps"] if s["id"] == bead["id"])
        for s in mol["steps"]:
            if s["step"] in mine["needs"] and s["summary"]:
                extra.append(f"- {s['step']} (done by {s['who'] or '?'}): {s['summary']}")
        if meta.get("acceptance"):
            extra.append(f"Done when: {meta['acceptance']}")
    elif bead["type"] == "molecule" and mode_single(bead):
        mol = store.molecule_get(bead["id"])
        steps = [store.bead_row(s["id"]) for s in mol["steps"]]
        total = len(steps)
        extra.append(f"## Molecule {mol['id']} (formula {mol['formula']}): {total} steps, worked in order on "
                     "this one branch")
        for s in mol["steps"]:
            mark = "x" if s["status"] == "closed" else " "
            extra.append(f"- [{mark}] {s['step']}: {s['title']}" + (f" -- {s['summary']}" if s["summary"] else ""))
        current = next((i for i, s in enumerate(steps) if s["status"] != "closed"), None)
        if current is not None:
            extra += ["", "## Your current step", _step_text(steps[current], current + 1, total), "",
                      "When this step is done and committed, run `gt step done --summary \"what you did\"`: it "
                      "prints the next step. After the last step, `gt done` hands the branch to the merge queue."]
        script: list[str] = []
        for i in range(current if current is not None else total, total):
            m = steps[i]["metadata"]
            if m.get("step_kind") == "approval":
                break
            if m.get("step_kind") == "agent" or i == current:
                script += list(m.get("script") or [])
                script.append(f'git add -A && (git diff --cached --quiet || git commit -qm "{m.get("step")}")')
                script.append(f'"${{GT_BIN:-gt}}" step done --summary "scripted: {m.get("step")}"')
        meta = {**meta, "script": script}
    if meta.get("persona_instructions"):
        extra.append(f"## Persona: {meta.get('persona')}\n{meta['persona_instructions']}")
    if not extra:
        return bead
    return {**bead, "body": "\n".join([body, "", *extra]).strip() + "\n", "metadata": meta}


def next_step_text(store: Store, mol_id: str) -> str:
    mol = store.bead_row(mol_id)
    steps = [store.bead_row(b) for b in mol["metadata"].get("steps", {}).values()]
    current = next((i for i, s in enumerate(steps) if s["status"] != "closed"), None)
    if current is None:
        return "Every step is done: commit, then run `gt done --summary \"...\"`."
    return _step_text(steps[current], current + 1, len(steps))


# -------------------------------------------------------------------- run steps
def gate_runner(town: "Town", runtime: Runtime | None, rig: str) -> dict[str, Any]:
    """The merge queue's gate runner for the rig (container, or host sandbox), as keyword
    arguments of run_on_target."""
    runner, workdir = mergequeue.gate_runner(town, runtime, rig)
    return {"runner": runner, "workdir": workdir}


def run_on_target(rig: dict[str, Any], cmd: str, timeout: float, ref: str | None = None, *,
                  runner: GateRunner = hostgates.host_gate, workdir: Path | None = None) -> dict[str, Any]:
    """A detached worktree of `ref` (default: the rig's target branch, fetched first),
    removed afterwards: the check sees exactly the committed work and leaves nothing behind
    (no caches or build output in a polecat's worktree). Blocking."""
    repo = rig["repo_path"]
    if ref is None:
        try:
            riglock.fetch_coalesced(repo, lambda: git.fetch(repo))
        except git.GitError as exc:
            log.warning("fetch of %s failed: %s", repo, exc)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=refinery.STEP_PREFIX, dir=workdir))
    wt = tmp / "wt"
    with riglock.lease(wt):  # sweeps keep it while the check runs (gastown.daemon.vcs.riglock)
        try:
            with riglock.rig_git(repo):  # registering a worktree writes the clone's shared metadata
                git.run(["worktree", "add", "--no-checkout", "--detach", str(wt),
                          ref or f"origin/{rig['default_branch']}"], repo, what="git worktree add")
            git.run(["reset", "--hard", "-q"], wt, what="git checkout")  # the new tree's own: outside the lock
            return runner(Gate(name="step", cmd=cmd, timeout=timeout), wt)
        finally:
            with riglock.rig_git(repo):
                git.run(["worktree", "remove", "--force", "--force", str(wt)], repo, ok=(0, 128))
            shutil.rmtree(tmp, ignore_errors=True)


async def run_ready_steps(loop: "TownLoop") -> bool:
    """Start every runnable run step not already running (each off the loop). True when
    any started."""
    town = loop.town
    started = False
    for step in await town.call(town.store.runnable_steps):
        if step["id"] in loop.steps_running:
            continue
        loop.steps_running.add(step["id"])
        task = asyncio.get_running_loop().create_task(_run_step(loop, step))
        loop.tasks.add(task)
        task.add_done_callback(loop.tasks.discard)
        started = True
    return started


async def _run_step(loop: "TownLoop", step: dict[str, Any]) -> None:
    town = loop.town
    try:
        await town.call(town.store.step_run_begin, step["id"])
        rig = await town.call(town.store.rig_get, step["rig"])
        m = step["metadata"]
        result = await asyncio.to_thread(run_on_target, rig, m["run"], float(m.get("timeout", 600)),
                                         **gate_runner(town, loop.runtime, rig["name"]))
        await town.call(town.store.step_run_result, step["id"], result, fail=True)
    except Exception as exc:
        log.exception("run step %s failed", step["id"])
        result = {"cmd": step["metadata"].get("run"), "exit_code": 125, "timed_out": False, "duration_s": 0,
                  "output_tail": f"the daemon could not run the step: {exc}"}
        await town.call(town.store.step_run_result, step["id"], result, fail=True)
    finally:
        loop.steps_running.discard(step["id"])
        loop.wake()


# ------------------------------------------------------------ single-mode advance
async def advance(town: "Town", runtime: Runtime | None, agent_name: str, summary: str,
                  request_id: str | None = None) -> dict[str, Any]:
    """`gt step done`: close the current step, run the run steps that follow in the agent's
    worktree, stop at an approval, and say what comes next."""
    store = town.store
    agent = await town.call(store.agent_get, agent_name)
    await town.call(store.hooked_molecule, agent_name)
    state = await asyncio.to_thread(git.worktree_state, agent["worktree"], "HEAD")
    if state.dirty:
        raise RpcError(ErrorCode.INVALID_STATE, f"uncommitted changes ({', '.join(state.dirty_files[:5])}): "
                       "commit the step's work first")
    nxt = await town.call(store.step_done, agent_name, summary, request_id)
    mol_id = agent["hook_bead_id"]
    rig = await town.call(store.rig_get, agent["rig"])
    while nxt is not None and nxt["metadata"].get("step_kind") == "run":
        m = nxt["metadata"]
        await town.call(store.step_run_begin, nxt["id"])
        result = await asyncio.to_thread(run_on_target, rig, m["run"], float(m.get("timeout", 600)), state.head,
                                         **gate_runner(town, runtime, rig["name"]))
        await town.call(store.step_run_result, nxt["id"], result, fail=False)
        if result["exit_code"] != 0:
            return {"id": mol_id, "status": "run_failed", "step": m["step"], "exit_code": result["exit_code"],
                    "text": f"step {m['step']}: `{m['run']}` failed with exit code {result['exit_code']}:\n"
                            f"{result['output_tail'][-3000:]}\nFix the work, commit, and run `gt step done` again "
                            "to run the check again."}
        nxt = await town.call(store.current_step, await town.call(store.bead_row, mol_id))
    if nxt is not None and nxt["metadata"].get("step_kind") == "approval":
        await town.call(store.molecule_wait, agent_name, nxt["metadata"]["step"])
        return {"id": mol_id, "status": "approval", "step": nxt["metadata"]["step"],
                "text": f"step {nxt['metadata']['step']} waits for a human (`gt bead approve {nxt['id']}`). "
                        "Commit your work and end your turn now; you will be called back when it is approved."}
    text = await town.call(next_step_text, store, mol_id)
    return {"id": mol_id, "status": "complete" if nxt is None else "next",
            "step": nxt["metadata"]["step"] if nxt is not None else None, "text": text}
