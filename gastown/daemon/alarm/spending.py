"""The loop's side of the ledger: budgets checked each tick, people told when one fills,
beads held while one is exhausted, and flow gauges sampled.

Budget states are recomputed only when something they depend on changed (a turn was
recorded, a budget or a price was set), so an idle town pays one tiny query a tick.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.daemon.rules import budgets
from gastown.daemon.store import holds, ledger
from gastown.daemon.alarm import witness
from gastown.pricing import PriceTable

if TYPE_CHECKING:
    from gastown.daemon.alarm.loop import TownLoop
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.spending")


def prices_of(town: "Town") -> PriceTable:
    overrides = town.table("costs.prices")
    return PriceTable(overrides if isinstance(overrides, dict) else {})


def _mark(town: "Town") -> tuple[Any, ...]:
    """What budget states depend on: the ledger's last row, the budgets and the prices."""
    return (*ledger.budget_mark(town.store), json.dumps(town.table("costs.prices"), sort_keys=True))


def _check(town: "Town") -> tuple[frozenset[tuple[str, str]], list[dict[str, Any]]]:
    current, changed = ledger.budget_check(town.store, prices_of(town))
    exhausted = frozenset((b["scope"], b["key"]) for b in current if b["status"] == "exhausted")
    return exhausted, changed


class Spending:
    def __init__(self) -> None:
        self.mark: tuple[Any, ...] | None = None
        self.exhausted: frozenset[tuple[str, str]] = frozenset()

    async def check(self, loop: "TownLoop") -> frozenset[tuple[str, str]]:
        """The exhausted budget scopes; notifies on every state change."""
        town = loop.town
        mark = await town.call(_mark, town)
        if mark != self.mark:
            self.exhausted, changed = await town.call(_check, town)
            self.mark = mark
            for budget in changed:
                await self._announce(loop, budget)
            released = await town.call(_release, town, self.exhausted)
            if released:
                log.info("town %s: budget released %s", town.name, ", ".join(released))
        await town.call(ledger.sample, town.store, datetime.now(timezone.utc))
        return self.exhausted

    async def _announce(self, loop: "TownLoop", budget: dict[str, Any]) -> None:
        town = loop.town
        status = budget["status"]
        if status == "ok":
            log.info("town %s: budget %s released", town.name, budget["id"])
            return
        caps = " / ".join(x for x in (f"{budget['tokens']:,} tokens" if budget["tokens"] else "",
                                      f"${budget['dollars']:.2f}" if budget["dollars"] else "") if x)
        used = f"{budget['used_tokens']:,} tokens, ${budget['used_dollars']:.2f}"
        if status == "warning":
            msg = f"budget {budget['id']} is at {budget['percent']:.0f}% ({used} of {caps})"
            esc = await town.call(town.store.escalation_create, msg, severity="medium", source="ledger",
                                  category="budget_warning")
            await asyncio.to_thread(witness.notify_human, town, [esc])  # medium, yet the human is told
        else:
            msg = (f"budget {budget['id']} is exhausted ({used} of {caps}): no new turns start there until "
                   f"it is raised ('gt budget set') or cleared")
            await town.call(town.store.escalation_create, msg, severity="high", source="ledger",
                            category="budget_exhausted")
            if town.text("budget.on_exhausted") == "stop":
                await self._stop_running(loop, budget)

    async def _stop_running(self, loop: "TownLoop", budget: dict[str, Any]) -> None:
        """`budget.on_exhausted = stop`: running turns in the scope stop; their beads go back
        to open (their work stays on the branch) and wait with the others."""
        town = loop.town
        for agent in await town.call(town.store.agent_list):
            if not agent["turn_dir"] or agent["turn_ended_at"] or not agent.get("hook_bead_id"):
                continue
            bead = await town.call(town.store.bead_row, agent["hook_bead_id"])
            keys = {("town", ""), ("bead", bead["id"]), ("rig", bead["rig"] or ""),
                    ("convoy", bead["metadata"].get("convoy") or ""), ("human", bead["requested_by"] or "")}
            if (budget["scope"], budget["key"]) in keys:
                log.info("town %s: stopping %s (budget %s exhausted)", town.name, agent["name"], budget["id"])
                await asyncio.to_thread(loop.runtime.stop_turn, Path(agent["turn_dir"]))

    async def note_held(self, loop: "TownLoop", held: dict[str, str]) -> None:
        """Ready beads in an exhausted scope are held (`gt:held`, reason `budget_exhausted`), so
        every view shows why they wait; the reconciler already skipped them this tick."""
        if held:
            await loop.town.call(_hold, loop.town, held)


BUDGET_HOLD = "budget_exhausted"


def _hold(town: "Town", held: dict[str, str]) -> None:
    store = town.store
    with store.transaction():
        for bead_id, scope in held.items():
            holds.mark_held(store, bead_id, reason=BUDGET_HOLD, actor="ledger")
            log.info("town %s: %s held, budget %s exhausted", town.name, bead_id, scope)


def budget_held(store: Any, exhausted: frozenset[tuple[str, str]]) -> dict[str, str | None]:
    """Beads the ledger holds -> the exhausted budget still holding each (None: released)."""
    scopes = [budgets.BeadScopes(r["id"], r["rig"], r["convoy"], r["requested_by"])
              for r in holds.held_by(store, "ledger", BUDGET_HOLD)]
    still = budgets.blocked(scopes, set(exhausted))
    return {s.id: still.get(s.id) for s in scopes}


def _release(town: "Town", exhausted: frozenset[tuple[str, str]]) -> list[str]:
    """Release what the ledger held once no exhausted budget covers it any more."""
    free = [b for b, scope in budget_held(town.store, exhausted).items() if scope is None]
    for bead_id in free:
        holds.release(town.store, bead_id, actor="ledger")
    return free
