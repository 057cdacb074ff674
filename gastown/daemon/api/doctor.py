"""`system.doctor`: the host checks only the daemon can answer truthfully.

Agent CLIs and the bubblewrap sandbox are found and run by the daemon, with its own PATH,
`GT_AGENT_CACHE` and `GT_BWRAP` (often inherited from another shell than the one running
`gt doctor`), so the daemon checks them; the CLI adds what it checks itself (git, the
container engine and image it builds with)."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown.daemon import adapters
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.runtime import sandbox
from gastown.protocol import Method, RpcError


def agent_clis() -> list[dict[str, Any]]:
    """Each real agent CLI: where the daemon finds it, or how to install it."""
    rows = []
    for name in sorted(adapters.ADAPTERS):
        adapter = adapters.get(name)
        if adapter.binary is None:
            continue
        try:
            rows.append({"check": f"agent CLI {name}", "ok": True, "detail": adapter.resolve_binary()})
        except RpcError as exc:
            rows.append({"check": f"agent CLI {name}", "ok": False, "detail": exc.message})
    return rows


def sandbox_row() -> dict[str, Any]:
    box = sandbox.probe(fresh=True)
    return {"check": "sandbox (bwrap)", "ok": box.ok,
            "detail": box.reason + ("" if box.ok else "; local towns with sandbox=auto run agents unconfined, "
                                                       "sandbox=required refuses to start turns")}


@rpc(Method.DOCTOR, town=False)
async def doctor(ctx: Ctx) -> list[dict[str, Any]]:
    return await asyncio.to_thread(lambda: [*agent_clis(), sandbox_row()])
