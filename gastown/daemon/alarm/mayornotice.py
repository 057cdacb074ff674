"""A Mayor that notices: new escalations and failed beads reach the Mayor as turns of their
own, at most one every `mayor.notice_minutes`, instead of waiting until a human next talks
to it. The cursor (last event seen, last notice time) lives in `patrol_state`, so a daemon
restart neither repeats nor loses a notice; a town's history before the first pass is not
replayed. The scripted stand-in cannot judge anything, so it gets no notices.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from gastown.daemon.store import holds
from gastown.daemon.alarm import prompts, turns
from gastown.daemon.rules import reconciler

if TYPE_CHECKING:
    from gastown.daemon.alarm.loop import TownLoop

log = logging.getLogger("gastown.daemon.alarm.mayornotice")
KEY = "mayor_notice"
MAX_ITEMS = 10


def pending(store: Any, cursor: int) -> tuple[list[dict[str, Any]], int]:
    """Escalations raised and issues failed since `cursor`, and the newest event seq."""
    last = store.newest_seq()
    return store.troubles_since(cursor), last


def due(state: dict[str, Any] | None, now: datetime, every_s: float) -> bool:
    """Pure: a notice may start when notices are on and the last one is old enough."""
    if every_s <= 0 or state is None:
        return False
    at = state.get("at")
    return at is None or (now - datetime.fromisoformat(at)).total_seconds() >= every_s


def text(items: list[dict[str, Any]]) -> str:
    lines = [f"- {'escalation' if i['type'] == 'escalation' else 'failed bead'} {i['bead_id']}: {i['title']}"
             for i in items[:MAX_ITEMS]]
    more = f"\n(and {len(items) - MAX_ITEMS} more: gt escalation list, gt bead list --status failed)" \
        if len(items) > MAX_ITEMS else ""
    return ("Town notice (no human is waiting on this answer): since you last looked,\n" + "\n".join(lines) + more +
            "\nLook at each (gt bead show ID, gt escalation list); fix what you can (retry, reassign, drop a "
            "dependency, hold), and escalate to the human what needs a decision. Answer in two or three lines.")


async def tick(loop: "TownLoop") -> None:
    town = loop.town
    store = town.store
    every_s = town.number("mayor.notice_minutes") * 60
    adapter = town.text("mayor.adapter") or town.text("agent.adapter")
    if every_s <= 0 or adapter in ("", "scripted"):
        return
    if await town.call(store.patrol_get, holds.PAUSED_KEY) is not None:
        return  # a paused town starts no turns, the Mayor's included
    state = await town.call(store.patrol_get, KEY)
    if state is None:  # first pass: start from now, never replay a town's history
        _, last = await town.call(pending, store, 1 << 62)
        await town.call(store.patrol_set, KEY, {"seq": last, "at": None})
        return
    now = datetime.now(timezone.utc)
    if not due(state, now, every_s):
        return
    items, last = await town.call(pending, store, int(state.get("seq", 0)))
    if not items:
        return
    agent = await town.call(store.mayor_agent, adapter)
    if reconciler.effective_status(agent) != "idle":
        return  # busy with a human: the notice waits for the next pass
    message = text(items)
    try:
        msg = await town.call(store.mayor_message, message, human="human")
        agent = await town.call(store.agent_get, "mayor")
        brief = ""
        if not agent["session_id"]:
            rigs = [r["name"] for r in await town.call(store.rig_list)]
            brief = prompts.mayor(town=town.name, rigs=rigs) + "\n"
        started = await asyncio.to_thread(loop.starter.start_mayor, agent, msg, brief + message)
        await town.call(store.turn_started, "mayor", **started)
    except Exception as exc:  # never let a notice break the tick; the cursor moves on anyway
        log.warning("the mayor's notice turn did not start: %s", exc)
        await town.call(store.dispatch_failed, "mayor", turns.failure_from(exc))
    await town.call(store.patrol_set, KEY, {"seq": last, "at": now.isoformat()})
