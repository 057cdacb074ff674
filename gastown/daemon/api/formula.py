"""Formulas, molecules and personas: `gt formula list|show|check|run`, `gt molecule
list|show|start`, `gt bead approve`, `gt persona list|show`, and the agents' `gt step done`."""

from __future__ import annotations

import asyncio
from typing import Any

from gastown import formula, persona
from gastown.daemon.alarm import library, steps
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


async def _rig(town: Town, rig: str | None) -> dict[str, Any] | None:
    return await town.call(town.store.rig_get, rig) if rig else None


@rpc(Method.FORMULA_LIST)
async def list_(ctx: Ctx, town: Town, *, rig: str | None = None) -> list[dict[str, Any]]:
    r = await _rig(town, rig)
    return await asyncio.to_thread(formula.available, library.layers(town, r, "formulas", fetch=True))


@rpc(Method.FORMULA_SHOW)
async def show(ctx: Ctx, town: Town, *, name: str, rig: str | None = None) -> dict[str, Any]:
    r = await _rig(town, rig)
    f = await asyncio.to_thread(formula.resolve, name, library.layers(town, r, "formulas", fetch=True))
    return formula.to_dict(f)


def _checked(town: Town, rig: dict[str, Any] | None, f: formula.Formula) -> tuple[formula.Formula, dict[str, Any]]:
    """Blocking: the formula with its base applied, checked against the personas it may name."""
    if f.extends is not None:
        base = formula.resolve(f.extends, library.layers(town, rig, "formulas"))
        f = formula.apply_patches(base, f)
    known = library.personas(town, rig)
    formula.check(f, known)
    return f, known


@rpc(Method.FORMULA_CHECK)
async def check(ctx: Ctx, town: Town, *, text: str, path: str = "formula", rig: str | None = None) -> dict[str, Any]:
    """Parse and validate a formula file without pouring it."""
    r = await _rig(town, rig)
    f, _ = await asyncio.to_thread(_checked, town, r, formula.parse(text, path))
    return {**formula.to_dict(f), "status": "ok", "order": formula.order(f)}


def _spec(town: Town, rig: dict[str, Any], name: str, values: dict[str, str], mode: str, staged: bool,
          persona_name: str | None) -> dict[str, Any]:
    """Resolve, validate and render everything before the store is touched (blocking)."""
    f, known = _checked(town, rig, formula.resolve(name, library.layers(town, rig, "formulas", fetch=True)))
    bound = formula.bind(f, values, rig["name"])
    default = persona_name or town.text("agent.persona", rig["name"]) or None
    if default and default not in known:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown persona '{default}' (try `gt persona list`)")
    out_steps = []
    for s in formula.rendered(f, bound):
        p = s.persona or default
        out_steps.append({"id": s.id, "title": s.title, "description": s.description, "needs": list(s.needs),
                          "kind": s.kind, "acceptance": s.acceptance, "run": s.run, "timeout": s.timeout,
                          "script": list(s.script), "persona": library.snapshot(known[p]) if p else {}})
    first = next((bound[v] for v, var in f.vars.items() if var.required and bound.get(v)), "")
    title = f"{f.name}: {first.splitlines()[0]}" if first else f.name
    return {"formula": f.name, "type": f.type, "source": f.source, "mode": mode, "rig": rig["name"], "staged": staged,
            "vars": {k: v for k, v in bound.items() if k != "rig"}, "title": title[:200],
            "description": f.description, "steps": out_steps,
            "persona": library.snapshot(known[default]) if default and mode == "single" else {}}


@rpc(Method.FORMULA_RUN)
async def run(ctx: Ctx, town: Town, *, name: str, rig: str, vars: dict[str, str] | None = None,
              staged: bool = False, mode: str = "beads", persona: str | None = None,
              requested_by: str | None = None) -> dict[str, Any]:
    """Pour a formula into a molecule: validated first, then one transaction."""
    from gastown.daemon.api.convoy import requester

    if mode not in ("beads", "single"):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"mode must be beads or single, not '{mode}'")
    r = await town.call(town.store.rig_get, rig)
    spec = await asyncio.to_thread(_spec, town, r, name, {k: str(v) for k, v in (vars or {}).items()}, mode,
                                   staged, persona)
    who = await requester(ctx, town, requested_by)
    mol = await town.call(town.store.molecule_pour, spec, actor=ctx.conn.actor, requested_by=who)
    ctx.daemon.wake(town)
    return mol


@rpc(Method.MOLECULE_LIST)
async def molecule_list(ctx: Ctx, town: Town) -> list[dict[str, Any]]:
    return await town.call(town.store.molecule_list)


@rpc(Method.MOLECULE_SHOW)
async def molecule_show(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    return await town.call(town.store.molecule_get, id)


@rpc(Method.MOLECULE_START)
async def molecule_start(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    mol = await town.call(town.store.molecule_start, id, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return mol


@rpc(Method.BEAD_APPROVE)
async def approve(ctx: Ctx, town: Town, *, id: str) -> dict[str, Any]:
    """Release an approval step of a molecule."""
    bead = await town.call(town.store.bead_approve, id, actor=ctx.conn.actor)
    ctx.daemon.wake(town)
    return bead


@rpc(Method.PERSONA_LIST)
async def persona_list(ctx: Ctx, town: Town, *, rig: str | None = None) -> list[dict[str, Any]]:
    r = await _rig(town, rig)
    found = await asyncio.to_thread(library.personas, town, r)
    return [p.to_dict() for _, p in sorted(found.items())]


@rpc(Method.PERSONA_SHOW)
async def persona_show(ctx: Ctx, town: Town, *, name: str, rig: str | None = None) -> dict[str, Any]:
    r = await _rig(town, rig)
    found = await asyncio.to_thread(persona.get, name, library.layers(town, r, "personas"))
    return found.to_dict()


@rpc(Method.TOOL_STEP_DONE)
async def step_done(ctx: Ctx, town: Town, *, summary: str = "") -> dict[str, Any]:
    """Single mode: close the current step, run the checks that follow, say what is next."""
    loop = ctx.daemon.loops.get(town.name)
    result = await steps.advance(town, loop.runtime if loop else None, ctx.agent(), summary.strip()[:2000],
                                 ctx.extra.get("request_id"))
    ctx.daemon.wake(town)
    return result
