"""Agents: the humans' view (list, show, logs, stop, reset) and the agents' own tools
(prime, done, status, escalate), which only work on the town's agent socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown import runner
from gastown.daemon.store import finish, integration, prstore, turnlog
from gastown.daemon.vcs import git, refinery
from gastown.daemon.alarm import prompts, steps
from gastown.daemon.town.crashpoints import crash_point
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.model import Severity, FailureCode
from gastown.protocol import ErrorCode, Method, RpcError

ROLE_METHODS: dict[str, frozenset[str]] = {
    "polecat": frozenset({Method.HELLO, Method.PING, Method.TOOL_PRIME, Method.TOOL_DONE, Method.TOOL_STATUS,
                          Method.TOOL_ESCALATE, Method.BEAD_SHOW, Method.MAIL_SEND, Method.MAIL_INBOX,
                          Method.MAIL_READ, Method.TOOL_STEP_DONE, Method.TOOL_PR_REPLY}),
    "refinery": frozenset({Method.HELLO, Method.PING, Method.TOOL_PRIME, Method.TOOL_REVIEW, Method.TOOL_STATUS,
                           Method.TOOL_ESCALATE, Method.BEAD_SHOW, Method.MAIL_SEND, Method.MAIL_INBOX,
                           Method.MAIL_READ}),
    "triage": frozenset({Method.HELLO, Method.PING, Method.TOOL_TRIAGE, Method.BEAD_SHOW}),
    "mayor": frozenset({
        Method.HELLO, Method.PING, Method.TOOL_PRIME, Method.TOOL_STATUS, Method.TOOL_ESCALATE,
        Method.SLING, Method.CONVOY_CREATE, Method.CONVOY_LIST, Method.CONVOY_SHOW, Method.CONVOY_START,
        Method.CONVOY_CLOSE, Method.RIG_LIST, Method.RIG_SHOW, Method.BEAD_LIST, Method.BEAD_SHOW,
        Method.BEAD_UPDATE, Method.BEAD_CLOSE, Method.BEAD_EVENTS, Method.DEP_ADD, Method.READY, Method.AGENT_LIST,
        Method.AGENT_SHOW, Method.AGENT_RESET, Method.ESCALATION_LIST, Method.ESCALATION_ACK, Method.MAIL_SEND,
        Method.MAIL_INBOX, Method.MAIL_READ, Method.TOWN_SHOW, Method.MQ_LIST, Method.MQ_SHOW,
        Method.RIG_FILES, Method.DEP_REMOVE, Method.BEAD_HOLD, Method.BEAD_RELEASE, Method.BEAD_RETRY,
        Method.CONVOY_ADD, Method.CONVOY_REMOVE,
        Method.FORMULA_LIST, Method.FORMULA_SHOW, Method.FORMULA_RUN, Method.MOLECULE_LIST, Method.MOLECULE_SHOW,
        Method.MOLECULE_START, Method.PERSONA_LIST}),
}
"""What each role may call on the agent socket; everything else is FORBIDDEN (the mayor's
tools are unavailable to polecats)."""


@rpc(Method.AGENT_LIST)
async def list_(ctx: Ctx, town: Town, *, rig: str | None = None, role: str | None = None) -> list[dict[str, Any]]:
    return await town.call(town.store.agent_list, rig=rig, role=role)


@rpc(Method.AGENT_SHOW)
async def show(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    agent = await town.call(town.store.agent_get, name)
    if agent["turn_dir"]:
        agent["turn"] = runner.read_status(Path(agent["turn_dir"]))
    return agent


MAX_LOG_CHUNK = 256 * 1024  # escaped into JSON it must still fit one frame


@rpc(Method.AGENT_LOGS)
async def logs(ctx: Ctx, town: Town, *, name: str, offset: int = -65536, limit: int = MAX_LOG_CHUNK) -> dict[str, Any]:
    """The raw output of the agent's current (or last) turn from `offset` (negative: from
    the end), at most `limit` bytes (capped so the answer fits one frame); page with `offset`."""
    limit = max(1, min(limit, MAX_LOG_CHUNK))
    agent = await town.call(town.store.agent_get, name)
    if not agent["turn_dir"]:
        return {"id": name, "turn_dir": None, "offset": 0, "data": ""}
    path = Path(agent["turn_dir"])
    if offset < 0:
        size = (path / "output.log").stat().st_size if (path / "output.log").exists() else 0
        offset = max(0, size + offset)
    data, end = await asyncio.to_thread(runner.tail, path, offset, limit)
    return {"id": name, "turn_dir": str(path), "offset": end, "data": data.decode("utf-8", "replace"),
            "running": await asyncio.to_thread(runner.is_running, path)}


async def _stop_turn(ctx: Ctx, town: Town, agent: dict[str, Any]) -> None:
    if agent["turn_dir"] and not agent["turn_ended_at"]:
        loop = ctx.daemon.loops.get(town.name)
        if loop is not None:
            await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]))


@rpc(Method.AGENT_STOP)
async def stop(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    """Stop the agent's turn; it stays stopped (not restarted) until `gt agent reset`, and the
    bead it was working is held (`gt bead release` hands it on)."""
    from gastown.daemon.store import holds

    agent = await town.call(town.store.agent_get, name)
    result = await town.call(holds.stop_agent, town.store, name, actor=ctx.conn.actor)
    await _stop_turn(ctx, town, agent)
    return {**result, "id": name}


@rpc(Method.AGENT_RESET)
async def reset(ctx: Ctx, town: Town, *, name: str) -> dict[str, Any]:
    agent = await town.call(town.store.agent_get, name)
    await _stop_turn(ctx, town, agent)
    result = await town.call(town.store.agent_reset, name, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return {**result, "id": name}


@rpc(Method.TOOL_PRIME)
async def prime(ctx: Ctx, town: Town) -> dict[str, Any]:
    agent = await town.call(town.store.agent_get, ctx.agent())
    bead = agent["hook"]
    text = "Nothing is on your hook. Wait for work or run `gt done` if you just finished."
    if bead and agent["role"] == "refinery":
        text = f"Review merge request {bead['id']} ({bead['title']}); answer with `gt review approve` or " \
               "`gt review request-changes \"why\"`."
    elif bead:
        rig = await town.call(town.store.rig_get, bead["rig"])
        bead = await town.call(steps.prompt_view, town.store, bead)  # its molecule's steps and persona
        text = prompts.polecat(agent=agent["name"], town=town.name, bead=bead, branch=agent["branch"] or "",
                               base=f"origin/{rig['default_branch']}")
    return {"id": agent["name"], "status": agent["status"], "role": agent["role"], "rig": agent["rig"],
            "hook": bead, "prompt": text}


def _done_checks(worktree: str, base: str) -> tuple[str, int, str | None]:
    state = git.worktree_state(worktree, base)
    if state.dirty:
        raise RpcError(ErrorCode.INVALID_STATE,
                       f"uncommitted changes ({', '.join(state.dirty_files[:5])}): commit or discard them first")
    if state.commits_ahead < 1:
        raise RpcError(ErrorCode.INVALID_STATE, f"no commits beyond {base}: commit your work before 'gt done'")
    return state.head, state.commits_ahead, state.branch


def _finish_checks(worktree: str, base: str, status: str) -> None:
    """No-change means no commits; every finish without a merge leaves a clean worktree (the
    polecat's next bead switches branches there)."""
    try:
        state = git.worktree_state(worktree, base)
    except git.GitError as exc:
        raise RpcError(ErrorCode.EXTERNAL, str(exc)) from None
    if state.dirty:
        raise RpcError(ErrorCode.INVALID_STATE, f"uncommitted changes ({', '.join(state.dirty_files[:5])}): "
                       "commit them (they stay on your branch) or discard them first")
    if status == "no-change" and state.commits_ahead:
        raise RpcError(ErrorCode.INVALID_STATE, f"{state.commits_ahead} commit(s) beyond {base}: hand them in "
                       "with 'gt done', or drop them for --status no-change")


@rpc(Method.TOOL_DONE)
async def done(ctx: Ctx, town: Town, *, summary: str = "", status: str = "done") -> dict[str, Any]:
    """Hand the branch to the merge queue, with evidence: the head SHA and commit count; or
    (`status` no-change, deferred, escalated) finish without a merge (gastown.daemon.store.finish).

    Idempotent: a repeated `done` of the same turn at the same head (or with the same
    request id: the agent's client retries a call a daemon restart cut) answers with the
    merge request the first one made (gastown.daemon.store.turnlog.done_replay)."""
    name = ctx.agent()
    finish.check(status, summary)
    agent = await town.call(town.store.agent_get, name)
    request_id = ctx.extra.get("request_id")
    if status == "done" and (not agent["hook"] or request_id):
        current = await asyncio.to_thread(_head_or_none, agent["worktree"])
        prior = await town.call(turnlog.done_replay, town.store, name, agent["turn_dir"], current, request_id)
        if prior is not None:
            return prior
    if status != "done" and not agent["hook"]:
        prior_finish = await town.call(finish.replay, town.store, name, status, agent["turn_started_at"])
        if prior_finish is not None:
            return prior_finish
    if not agent["hook"]:
        raise RpcError(ErrorCode.INVALID_STATE, "nothing on your hook: there is no work to hand in")
    rig = await town.call(town.store.rig_get, agent["hook"]["rig"])
    base = await asyncio.to_thread(refinery.landing_base, rig["repo_path"], rig["default_branch"])
    if status != "done":
        await asyncio.to_thread(_finish_checks, agent["worktree"], base, status)
        result = await town.call(finish.finish, town.store, name, status=status, summary=summary)
        ctx.daemon.wake(town)
        return result
    await town.call(town.store.done_check, name)  # a single-mode molecule: every step done first
    try:
        head, commits, branch = await asyncio.to_thread(_done_checks, agent["worktree"], base)
    except git.GitError as exc:
        raise RpcError(ErrorCode.EXTERNAL, str(exc)) from None
    if agent["hook"]["metadata"].get("followup"):  # a PR follow-up: push the branch; the PR updates itself
        return await _followup_done(ctx, town, agent, head, summary)
    crash_point("done.before_commit")
    target = await town.call(integration.target_for, town.store, agent["hook"]) or rig["default_branch"]
    mr = await town.call(town.store.agent_done, name, summary=summary, head_sha=head,
                         branch=branch or agent["branch"], target_branch=target, commits=commits,
                         turn_dir=agent["turn_dir"], request_id=request_id)
    crash_point("done.committed")
    ctx.daemon.wake(town)
    return mr


async def _followup_done(ctx: Ctx, town: Town, agent: dict[str, Any], head: str, summary: str) -> dict[str, Any]:
    branch = str(agent["hook"]["metadata"]["branch"])
    try:
        await asyncio.to_thread(git.run, ["push", "origin", f"HEAD:refs/heads/{branch}"], agent["worktree"],
                                what="git push", timeout=git.NETWORK_TIMEOUT)
    except git.GitError as exc:
        raise RpcError(ErrorCode.EXTERNAL, f"pushing {branch} failed (merge origin/<target> first if it moved): "
                                           f"{exc}") from None
    bead = await town.call(prstore.followup_done, town.store, agent["name"], head=head, summary=summary)
    ctx.daemon.wake(town)
    return {**bead, "metadata": {**bead["metadata"], "source_bead_id": bead["id"], "head_sha": head}}


@rpc(Method.TOOL_PR_REPLY)
async def pr_reply(ctx: Ctx, town: Town, *, thread: str, body: str) -> dict[str, Any]:
    """Answer a review thread of the pull request your follow-up bead is about."""
    from gastown.daemon.alarm import pullrequests
    from gastown.forge import ForgeError

    name = ctx.agent()
    if not body.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, "the reply is empty")
    bead = await town.call(prstore.followup_of, town.store, name)
    meta = bead["metadata"]
    threads = {str(c["thread"]) for c in meta.get("comments", [])}
    if str(thread) not in threads:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"no thread {thread} in {bead['id']}; threads: "
                                                 f"{', '.join(sorted(threads)) or 'none'}")
    rig = await town.call(town.store.rig_get, bead["rig"])
    try:
        api = await asyncio.to_thread(pullrequests.forge_for, town, rig)
        if api is None:
            raise RpcError(ErrorCode.INVALID_STATE, f"rig {rig['name']} has no forge API to reply through")
        comment = await asyncio.to_thread(api.reply, int(meta["pr_number"]), str(thread), body)
    except (ForgeError, ValueError) as exc:
        raise RpcError(ErrorCode.EXTERNAL, f"replying on the forge failed: {exc}") from None
    reply = {"thread": str(thread), "id": comment.id, "body": body, "agent": name}
    await town.call(prstore.reply_recorded, town.store, bead["id"], reply)
    return reply
def _head_or_none(worktree: str | None) -> str | None:
    if not worktree:
        return None
    try:
        return git.head_sha(worktree)
    except git.GitError:
        return None


@rpc(Method.TOOL_STATUS)
async def status(ctx: Ctx, town: Town, *, message: str) -> dict[str, Any]:
    name = ctx.agent()
    await town.call(town.store.agent_status_message, name, message[:500])
    return {"id": name, "status_message": message[:500]}


@rpc(Method.TOOL_ESCALATE)
async def escalate(ctx: Ctx, town: Town, *, message: str, severity: str = "medium") -> dict[str, Any]:
    name = ctx.agent()
    if severity not in [s.value for s in Severity]:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"severity must be low, medium, high or critical, not '{severity}'")
    agent = await town.call(town.store.agent_get, name)
    return await town.call(town.store.escalation_create, message, severity=severity, source=name,
                           bead_id=agent["hook_bead_id"])


@rpc(Method.TOOL_REVIEW)
async def review(ctx: Ctx, town: Town, *, verdict: str, reason: str = "") -> dict[str, Any]:
    """The refinery agent's verdict on the merge request on its hook; it gates the merge."""
    name = ctx.agent()
    if verdict not in ("approve", "request_changes"):
        raise RpcError(ErrorCode.INVALID_PARAMS, "verdict must be approve or request_changes")
    if verdict == "request_changes" and not reason.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, "request-changes needs the reason the polecat will read")
    mr = await town.call(town.store.review_verdict, name, verdict, reason.strip())
    ctx.daemon.wake(town)
    return mr


def _defer_gupp(town: Town, agent: str) -> None:
    from datetime import datetime, timedelta, timezone

    wait_s = town.number("patrol.gupp_minutes") * 60
    town.store.gupp_defer(agent, datetime.now(timezone.utc) + timedelta(seconds=wait_s))


@rpc(Method.TOOL_TRIAGE)
async def triage(ctx: Ctx, town: Town, *, verdict: str, reason: str = "") -> dict[str, Any]:
    """The triage agent's verdict on its case: wait, restart the stuck agent, or escalate."""
    ctx.agent()
    if verdict not in ("wait", "restart", "escalate"):
        raise RpcError(ErrorCode.INVALID_PARAMS, "verdict must be wait, restart or escalate")
    case = await town.call(town.store.triage_verdict, verdict, reason)
    if verdict == "wait":  # defer the ladder's next step (the reset) by one gupp interval
        await town.call(_defer_gupp, town, case["agent"])
    if verdict == "restart":
        stuck = await town.call(town.store.agent_get, case["agent"])
        await _stop_turn(ctx, town, stuck)
        await town.call(town.store.agent_reset, case["agent"], actor="triage", failure={
            "code": FailureCode.TRIAGE_RESTART, "message": f"triage: {reason or 'stuck'}", "source": "triage"})
    elif verdict == "escalate":
        await town.call(town.store.escalation_create, f"triage: agent {case['agent']} on {case['bead']} needs a "
                        f"human: {reason}", severity="medium", source="triage", bead_id=case["bead"], category="gupp")
    ctx.daemon.wake(town)
    return {"id": case["bead"], "status": verdict, **case}


@rpc(Method.AGENT_INPUT)
async def input_(ctx: Ctx, town: Town, *, name: str, data: str) -> dict[str, Any]:
    """Type into the agent's running turn (what `gt agent attach` and the dashboard send)."""
    agent = await town.call(town.store.agent_get, name)
    if not agent["turn_dir"] or not await asyncio.to_thread(runner.is_running, Path(agent["turn_dir"])):
        raise RpcError(ErrorCode.INVALID_STATE, f"agent {name} has no running turn")
    await asyncio.to_thread(runner.send_input, Path(agent["turn_dir"]), data.encode())
    return {"id": name, "sent": len(data)}
