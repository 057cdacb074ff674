"""Towns and their settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gastown.daemon.town import agentenv, config
from gastown.daemon.adapters import agentpick
from gastown.daemon.store import holds
from gastown.daemon.runtime import sandbox, townimage
from gastown.daemon.edge.context import Ctx
from gastown.daemon.edge.rpc import rpc
from gastown.daemon.town.towns import Town
from gastown.protocol import ErrorCode, Method, RpcError


def choose_runtime(wanted: str | None) -> tuple[str, str]:
    """The runtime for a new town and why: the one asked for (it must work here), else
    podman, then docker, then local: the first that works on this host."""
    import os

    from gastown.host import engine

    wanted = wanted or os.environ.get("GT_RUNTIME") or None
    if wanted == "local":
        return "local", "asked for: agents run on this host"
    reasons = []
    for name in [wanted] if wanted else ["podman", "docker"]:
        try:
            eng = engine.detect(name)
            eng.verify()
            return name, f"{name} works here ({eng.binary})" + (" as asked" if wanted else "")
        except RpcError as exc:
            if wanted:
                raise
            reasons.append(exc.message)
    return "local", "no working container engine (" + "; ".join(reasons) + "): agents run on this host"


@rpc(Method.TOWN_CREATE, town=False)
async def create(ctx: Ctx, *, name: str, prefix: str | None = None, runtime: str | None = None,
                 agent: str | None = None) -> dict[str, Any]:
    if runtime not in (None, "local", "podman", "docker"):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown runtime '{runtime}': use local, podman or docker")
    chosen, why = await asyncio.to_thread(choose_runtime, runtime)
    adapter, agent_why = await asyncio.to_thread(agentpick.choose, agent)
    town = ctx.daemon.towns.create(name, prefix=prefix, runtime=chosen, agent=adapter or None)
    await ctx.daemon.open_town(name)
    state = await asyncio.to_thread(sandbox.state, town.text("sandbox"), chosen)
    return {**town.info(), "runtime_reason": why, "sandbox": state, "agent": adapter, "agent_reason": agent_why,
            "image": image_spec(town)}


@rpc(Method.TOWN_LIST, town=False)
async def list_(ctx: Ctx) -> list[dict[str, Any]]:
    return [ctx.daemon.towns.get(n).info() for n in ctx.daemon.towns.names()]


@rpc(Method.TOWN_SHOW)
async def show(ctx: Ctx, town: Town) -> dict[str, Any]:
    info = town.info()
    info["rigs"] = [r["name"] for r in await town.call(town.store.rig_list)]
    info["beads"] = await town.call(town.store.counts)
    info.update(await town.call(holds.town_state, town.store))  # paused, parked_rigs
    info["sandbox"] = await asyncio.to_thread(sandbox.state, town.text("sandbox"), info["runtime"])
    info["agent_env"] = agentenv.summary(agentenv.spec_of(town.items("agent.env")))
    info["image"] = await asyncio.to_thread(image_spec, town)
    info["loop"] = loop_state(ctx, town)
    return info


def loop_state(ctx: Ctx, town: Town) -> dict[str, Any] | None:
    """The town's alarm loop as seen now: ticks finished so far and whether it ticks at the
    active pace; tests wait on the tick count ("three more ticks and nothing happened")
    instead of sleeping. None when the town has no loop running."""
    loop = ctx.daemon.loops.get(town.name)
    if loop is None:
        return None
    return {"ticks": loop.ticks_done, "active": loop.active}


def image_spec(town: Town) -> dict[str, Any]:
    """What the town adds to its container image (`container.base`, every `container.setup`),
    for the CLI that builds it (`gt image build --town`, `gt town create`); a settings file
    that does not parse is reported here rather than failing `town.show`."""
    try:
        spec = townimage.spec_for_town(town.root)
    except RpcError as exc:
        return {"problem": exc.message}
    return {"base": spec.base, "setup": list(spec.setup)}


@rpc(Method.TOWN_DELETE, town=False)
async def delete(ctx: Ctx, *, name: str) -> dict[str, Any]:
    await ctx.daemon.hub.close_town(name)
    town = ctx.daemon.towns.get(name)
    loop = ctx.daemon.loops.get(name)
    if loop is not None:  # stop every running turn first: deleting a town leaves nothing behind
        for agent in await town.call(town.store.agent_list):
            if agent["turn_dir"] and not agent["turn_ended_at"]:
                await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]), 2.0)
        await asyncio.to_thread(loop.runtime.remove)  # the container and everything running in it
    await ctx.daemon.close_town(name)
    return ctx.daemon.towns.delete(name)


@rpc(Method.CONFIG_GET)
async def config_get(ctx: Ctx, town: Town, *, key: str | None = None, rig: str | None = None,
                     reveal: bool = False) -> list[dict[str, Any]]:
    """Effective settings; secrets are masked unless `reveal` (a single key asked for by name)."""
    if rig is not None:
        await town.call(town.store.rig_get, rig)
    if key is not None:
        config.check_key(key, rig=False)
    keys = [key] if key else sorted(config.SETTINGS)
    out = []
    for k in keys:
        value, source = town.config(k, rig)
        if not (key and reveal):
            value = masked(k, value)
        out.append({"key": k, "value": value, "source": source, "help": config.SETTINGS[k].help})
    return out


def masked(key: str, value: Any) -> Any:
    """Secret-looking values are not echoed: the SECRETS settings, and `agent.env` NAME=value
    entries whose name looks secret (`*_KEY`, `*_TOKEN`...)."""
    if (key in config.SECRETS or agentenv.is_secret(key)) and value:
        return agentenv.MASK
    if key == "agent.env" and isinstance(value, list):
        out = []
        for entry in value:
            name, eq, _ = str(entry).partition("=")
            out.append(f"{name}={agentenv.MASK}" if eq and agentenv.is_secret(name) else entry)
        return out
    return value


@rpc(Method.CONFIG_SET)
async def config_set(ctx: Ctx, town: Town, *, key: str, value: str | None = None, rig: str | None = None,
                     unset: bool = False) -> dict[str, Any]:
    config.check_key(key, rig=rig is not None)
    if rig is not None:
        await town.call(town.store.rig_get, rig)
    if unset:
        parsed = None
    elif value is None:
        raise RpcError(ErrorCode.INVALID_PARAMS, "config.set needs a value (or unset)")
    else:
        parsed = config.check_type(key, config.parse_value(value))
    if key == "refinery.strategy" and parsed == "pr":
        await _check_forge_first(town, rig)
    path = town.rig_dir(rig) / "config.toml" if rig else town.config_path
    await town.call(config.set_dotted, path, key, parsed)
    ctx.daemon.wake(town)  # a file, not the store: tick now so the loop sees it (more polecats, its pace)
    effective, source = town.config(key, rig)
    warn = agentenv.warnings(agentenv.spec_of(parsed)) if key == "agent.env" else []
    return {"key": key, "value": masked(key, effective), "source": source, "warnings": warn}


async def _check_forge_first(town: Town, rig: str | None) -> None:
    """Switching to pull requests with no or wrong forge credentials is refused at once."""
    from gastown.daemon.api.forge import check_rigs

    bad = [r for r in await check_rigs(town, rig, all_rigs=True) if not r["ok"]]
    if bad:
        raise RpcError(ErrorCode.INVALID_STATE, f"refinery.strategy pr: rig {bad[0]['rig']}: {bad[0]['detail']} "
                                                "(fix the forge settings first, then set the strategy)")


@rpc(Method.COSTS)
async def costs(ctx: Ctx, town: Town) -> dict[str, Any]:
    return await town.call(town.store.costs)
