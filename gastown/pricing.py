"""Model prices: dollars per million input, output and cached-input tokens.

Stdlib only, pure. The built-in table holds public list prices as the project recorded
them on `PRICES_TAKEN`; providers change prices, so every entry can be overridden (or a
model added) with the town setting `costs.prices`, e.g.
`gt config set costs.prices '{"my-model" = {input = 1.0, output = 2.0, cached = 0.1}}'`.
A model with no price costs $0 and is reported as unpriced, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

PRICES_TAKEN = "2025-08-01"
"""When the built-in list prices were taken (USD per million tokens)."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cached: float  # cached (prompt-cache read) input tokens

    def dollars(self, tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> float:
        """Cost of one usage. `tokens_in` counts all input tokens, cached ones included
        (the adapters report it so); cached ones are billed at the cached rate."""
        cached = min(max(tokens_cached, 0), max(tokens_in, 0))
        fresh = max(tokens_in, 0) - cached
        return (fresh * self.input + cached * self.cached + max(tokens_out, 0) * self.output) / 1_000_000


BUILTIN: dict[str, Price] = {
    # OpenAI
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    # Anthropic
    "claude-opus-4": Price(15.00, 75.00, 1.50),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    # Google
    "gemini-2.5-pro": Price(1.25, 10.00, 0.31),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
}


def _normal(model: str) -> str:
    """`openai/gpt-4o` -> `gpt-4o`; case-insensitive."""
    return model.strip().lower().rsplit("/", 1)[-1]


def _parse(entry: Any) -> Price | None:
    if not isinstance(entry, Mapping):
        return None
    try:
        return Price(float(entry.get("input", 0)), float(entry.get("output", 0)),
                     float(entry.get("cached", entry.get("input", 0))))
    except (TypeError, ValueError):
        return None


def check_overrides(value: Any) -> str | None:
    """Why a `costs.prices` value is malformed, or None when it is fine."""
    if not isinstance(value, Mapping):
        return "costs.prices is a table of model = {input, output, cached} (USD per million tokens)"
    for model, entry in value.items():
        if not isinstance(entry, Mapping) or not entry:
            return f"costs.prices.{model} must be a table with input, output and cached"
        unknown = set(entry) - {"input", "output", "cached"}
        if unknown:
            return f"costs.prices.{model}: unknown field {sorted(unknown)[0]!r} (input, output, cached)"
        for k, v in entry.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                return f"costs.prices.{model}.{k} must be a non-negative number"
    return None


class PriceTable:
    """Built-ins overlaid with the town's overrides; looks models up by exact name, then by
    the longest known prefix (dated releases such as `claude-sonnet-4-20250514`)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.prices: dict[str, Price] = dict(BUILTIN)
        self.overridden: set[str] = set()
        for model, entry in (overrides or {}).items():
            price = _parse(entry)
            if price is not None:
                self.prices[_normal(model)] = price
                self.overridden.add(_normal(model))
        self._cache: dict[str, Price | None] = {}

    def lookup(self, model: str | None) -> Price | None:
        if not model:
            return None
        key = _normal(model)
        if key not in self._cache:
            found = self.prices.get(key)
            if found is None:
                prefixes = [p for p in self.prices if key.startswith(p + "-") or key.startswith(p + "@")]
                found = self.prices[max(prefixes, key=len)] if prefixes else None
            self._cache[key] = found
        return self._cache[key]

    def dollars(self, model: str | None, tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.dollars(tokens_in, tokens_out, tokens_cached)

    def rows(self) -> list[dict[str, Any]]:
        """The table as printed by `gt costs --prices`."""
        return [{"model": m, "input": p.input, "output": p.output, "cached": p.cached,
                 "source": "config" if m in self.overridden else f"built-in ({PRICES_TAKEN})"}
                for m, p in sorted(self.prices.items())]


# ------------------------------------------------------------ how people read them
def money(v: float | None) -> str:
    """Dollars as the CLI and the dashboard print them: cents hide small turns, so four places below $1."""
    return "-" if v is None else f"${v:,.4f}" if v < 1 else f"${v:,.2f}"


def percent(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def duration(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.1f}m" if s < 7200 else f"{s / 3600:.1f}h"
