"""Budget rules, pure: which scope a bead spends in, how full a budget is, and which ready
beads must wait because a budget they spend in is exhausted.

A budget caps tokens, dollars or both for the town, a rig, a convoy, a bead or a human. At
`WARN_AT` of either cap the human is told; at 100 % no new turn starts in that scope (the
beads wait, held with the reason `budget_exhausted`); running turns finish. Raising or
clearing the cap releases them on the next tick, with nothing to undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

SCOPES = ("town", "rig", "convoy", "bead", "human")

SCOPE_COLUMN: dict[str, str | None] = {"town": None, "rig": "rig", "convoy": "convoy", "bead": "bead_id",
                                       "human": "requested_by"}
"""The turn_usage column a scope sums over (the town sums everything)."""

WARN_AT = 0.8


@dataclass(frozen=True)
class BeadScopes:
    """Where one bead's turns spend."""

    id: str
    rig: str | None
    convoy: str | None
    requested_by: str | None

    def keys(self) -> set[tuple[str, str]]:
        out = {("town", ""), ("bead", self.id)}
        if self.rig:
            out.add(("rig", self.rig))
        if self.convoy:
            out.add(("convoy", self.convoy))
        if self.requested_by:
            out.add(("human", self.requested_by))
        return out


def fraction(cap_tokens: int | None, cap_dollars: float | None, used_tokens: int, used_dollars: float) -> float:
    """How full the budget is: the larger of its two caps' fractions."""
    parts = []
    if cap_tokens:
        parts.append(used_tokens / cap_tokens)
    if cap_dollars:
        parts.append(used_dollars / cap_dollars)
    return max(parts) if parts else 0.0


def state_of(frac: float) -> str:
    return "exhausted" if frac >= 1.0 else "warning" if frac >= WARN_AT else "ok"


def blocked(beads: Iterable[BeadScopes], exhausted: set[tuple[str, str]]) -> dict[str, str]:
    """Ready beads that must wait -> the exhausted scope that holds them ('rig:app')."""
    if not exhausted:
        return {}
    out: dict[str, str] = {}
    for bead in beads:
        hit = sorted(bead.keys() & exhausted)
        if hit:
            scope, key = hit[0]
            out[bead.id] = f"{scope}:{key}" if key else scope
    return out
