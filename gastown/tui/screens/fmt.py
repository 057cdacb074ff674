"""Small formatting helpers shared by the screens."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

STATUS_STYLE = {
    "working": "bold green", "starting": "green", "idle": "dim", "stalled": "yellow", "failed": "bold red",
    "quarantined": "red", "stopped": "dim red",
    "open": "cyan", "in_progress": "green", "in_review": "magenta", "closed": "dim", "failed_bead": "bold red",
}


def status(value: str | None) -> Text:
    return Text(value or "", style=STATUS_STYLE.get(value or "", ""))


def human(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) if value is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def fields(pairs: list[tuple[str, Any]]) -> Text:
    """Aligned `key  value` lines; empty values are left out."""
    out = Text()
    for key, value in pairs:
        if value in (None, "", [], {}):
            continue
        out.append(f"{key:<14}", style="bold")
        out.append_text(value if isinstance(value, Text) else Text(str(value)))
        out.append("\n")
    out.rstrip()
    return out
