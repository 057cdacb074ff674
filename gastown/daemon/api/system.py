"""Handshake, liveness and shutdown."""

from __future__ import annotations

import os
import time
from typing import Any

from gastown import __version__
from gastown.daemon.town import agentenv
from gastown.daemon.runtime import sandbox
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.protocol import PROTOCOL_VERSION, ErrorCode, Method, RpcError


@rpc(Method.HELLO, town=False)
async def hello(ctx: Ctx, *, protocol: int, client: str = "", actor: str | None = None,
                token: str | None = None) -> dict[str, Any]:
    if protocol != PROTOCOL_VERSION:
        raise RpcError(
            ErrorCode.VERSION_MISMATCH,
            f"client speaks protocol {protocol}, daemon speaks {PROTOCOL_VERSION}: restart the daemon "
            "('gt daemon stop', then run gt again)",
        )
    if ctx.conn.agent_town is not None:
        await _agent_hello(ctx, token)
    else:
        ctx.conn.actor = actor
    ctx.conn.hello = True
    return {"protocol": PROTOCOL_VERSION, "version": __version__, "pid": os.getpid()}


@rpc(Method.PING, town=False)
async def ping(ctx: Ctx) -> str:
    return "pong"


@rpc(Method.STATUS, town=False)
async def status(ctx: Ctx) -> dict[str, Any]:
    d = ctx.daemon
    return {
        "id": "daemon",
        "status": "running",
        "pid": os.getpid(),
        "version": __version__,
        "protocol": PROTOCOL_VERSION,
        "uptime_s": round(time.monotonic() - d.started, 3),
        "socket": str(d.socket_path),
        "towns_open": sorted(d.towns.open),
        "connections": len(d.connections),
        "sandbox": sandbox.probe().__dict__,
        "agent_env": agentenv.summary([]),
        **_resources(),
    }


def _resources() -> dict[str, Any]:
    """The daemon's own footprint for `gt daemon status`: resident memory, CPU time, threads
    and open files (psutil reads them the same way on every platform it supports)."""
    import psutil

    me = psutil.Process()
    with me.oneshot():
        cpu = me.cpu_times()
        return {"rss_mb": round(me.memory_info().rss / 2**20, 1), "cpu_s": round(cpu.user + cpu.system, 2),
                "threads": me.num_threads(), "open_fds": me.num_fds()}


@rpc(Method.SHUTDOWN, town=False)
async def shutdown(ctx: Ctx) -> dict[str, Any]:
    ctx.daemon.request_stop()
    return {"stopping": True, "pid": os.getpid()}


async def _agent_hello(ctx: Ctx, token: str | None) -> None:
    """On an agent socket the token decides who is calling; there is no other identity."""
    from gastown.daemon.alarm.turns import token_hash

    if not token:
        raise RpcError(ErrorCode.FORBIDDEN, "the agent socket needs an agent token (GT_AGENT_TOKEN)")
    town = ctx.daemon.towns.get(ctx.conn.agent_town or "")
    agent = await town.call(town.store.agent_by_token, token_hash(token))
    if agent is None or agent.get("turn_ended_at"):  # a token dies with its turn
        raise RpcError(ErrorCode.FORBIDDEN, "unknown or revoked agent token")
    ctx.conn.agent = agent["name"]
    ctx.conn.token_hash = token_hash(token)
    ctx.conn.role = agent["role"]
    ctx.conn.actor = agent["name"]
