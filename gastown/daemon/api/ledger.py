"""Costs in dollars, budgets and flow gauges (the ledger's RPCs)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from gastown.daemon.rules import budgets
from gastown.daemon.store import ledger
from gastown.daemon.alarm import spending
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.store import iso
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


def _since(value: str | None) -> str | None:
    """An ISO timestamp (from the CLI, which parses `1h`, `2d`, dates) in the store's format."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"since: not a timestamp: {value[:40]!r}") from None
    return iso(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc))


@rpc(Method.COSTS_BY)
async def costs_by(ctx: Ctx, town: Town, *, by: str = "bead", since: str | None = None,
                   limit: int = 1000) -> dict[str, Any]:
    """Tokens and dollars grouped by human, rig, convoy, agent, model, day, bead or turn."""
    prices = spending.prices_of(town)
    if by == "turn":
        rows = await town.call(ledger.turn_costs, town.store, prices, limit=max(1, min(limit, 10_000)))
        return {"by": by, "since": None, "rows": rows, "unpriced_models": []}
    if by not in ledger.GROUPS:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"cannot group costs by '{by}' "
                                                 f"(choose {', '.join([*ledger.GROUPS, 'turn'])})")
    data = await town.call(ledger.costs, town.store, prices, by=by, since=_since(since))
    data["rows"] = data["rows"][:max(1, min(limit, 100_000))]
    data["prices"] = prices.rows() if by == "model" else []
    return data


def _scope(scope: str, key: str | None) -> tuple[str, str]:
    if scope not in budgets.SCOPES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"budget scope must be one of {', '.join(budgets.SCOPES)}")
    if scope == "town":
        return scope, ""
    if not key or not key.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, f"a {scope} budget needs the {scope} it caps")
    return scope, key.strip()


@rpc(Method.BUDGET_SET)
async def budget_set(ctx: Ctx, town: Town, *, scope: str = "town", key: str | None = None,
                     tokens: int | None = None, dollars: float | None = None) -> dict[str, Any]:
    scope, key = _scope(scope, key)
    if tokens is None and dollars is None:
        raise RpcError(ErrorCode.INVALID_PARAMS, "give --tokens N and/or --dollars D")
    if tokens is not None and (isinstance(tokens, bool) or tokens <= 0):
        raise RpcError(ErrorCode.INVALID_PARAMS, "tokens must be a positive whole number")
    if dollars is not None and not (0 < float(dollars) < 1e12):
        raise RpcError(ErrorCode.INVALID_PARAMS, "dollars must be a positive amount")
    if scope == "rig":
        await town.call(town.store.rig_get, key)
    elif scope in ("bead", "convoy"):
        key = await town.call(town.store.resolve, key)
    await town.call(ledger.budget_set, town.store, scope, key, tokens=tokens,
                    dollars=None if dollars is None else float(dollars))
    ctx.daemon.wake(town)
    rows = await town.call(ledger.budget_list, town.store, spending.prices_of(town))
    return next(r for r in rows if r["scope"] == scope and r["key"] == key)


@rpc(Method.BUDGET_CLEAR)
async def budget_clear(ctx: Ctx, town: Town, *, scope: str = "town", key: str | None = None) -> dict[str, Any]:
    scope, key = _scope(scope, key)
    if scope in ("bead", "convoy"):
        key = await town.call(town.store.resolve, key)
    if not await town.call(ledger.budget_clear, town.store, scope, key):
        raise RpcError(ErrorCode.NOT_FOUND, f"no budget on {scope}{' ' + key if key else ''}")
    ctx.daemon.wake(town)
    return {"id": f"{scope}:{key}" if key else scope, "status": "cleared"}


@rpc(Method.BUDGET_SHOW)
async def budget_show(ctx: Ctx, town: Town) -> list[dict[str, Any]]:
    rows = await town.call(ledger.budget_list, town.store, spending.prices_of(town))
    exhausted = frozenset((r["scope"], r["key"]) for r in rows if r["status"] == "exhausted")
    held = await town.call(spending.budget_held, town.store, exhausted)
    for r in rows:
        r["held_beads"] = sorted(b for b, s in held.items() if s == r["id"])
    return rows


@rpc(Method.STATS)
async def stats(ctx: Ctx, town: Town, *, since: str | None = None) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    start = _since(since) or iso(now - timedelta(hours=24))
    data = await town.call(ledger.stats, town.store, spending.prices_of(town), since=start, now=now)
    return {"id": town.name, **data}
