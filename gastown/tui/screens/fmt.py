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


BAR_STYLE = (("closed", "green"), ("in_review", "magenta"), ("in_progress", "yellow"), ("failed", "red"),
             ("open", "grey50"))
SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "dim"}


def bar(progress: dict[str, int], total: int, width: int = 24) -> Text:
    """A progress bar by member status (closed first), then `closed/total`."""
    out = Text()
    total = max(total, sum(progress.values()), 1)
    used = 0
    for key, style in BAR_STYLE:
        n = int(progress.get(key) or 0)
        cells = round(n * width / total) if key != "open" else width - used
        cells = max(0, min(cells, width - used))
        out.append(("█" if key != "open" else "░") * cells, style=style)
        used += cells
    out.append(f" {int(progress.get('closed') or 0)}/{total}")
    return out


def severity(value: str | None) -> Text:
    return Text(value or "", style=SEVERITY_STYLE.get(value or "", ""))


def selected_key(table: Any) -> str | None:
    """The row key under a DataTable's cursor (rows are keyed by id everywhere)."""
    if not table.row_count or table.cursor_row < 0:
        return None
    value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return str(value) if value is not None else None


def refill(table: Any, rows: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Replace a DataTable's rows, keeping the cursor on the same key when the rows re-sort
    (the person acts on what they selected, not on whatever slid under the cursor)."""
    current = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [k for k, _ in rows]
    if current in keys:
        table.move_cursor(row=keys.index(current), animate=False, scroll=True)


NOW: list[Any] = []
"""Tests pin the clock here (one datetime) so ages in snapshots do not drift."""


def age(stamp: Any) -> str:
    """`2026-05-01T12:00:00Z` → `5m`, `3h`, `2d`: coarse, so a card repaints rarely."""
    from datetime import datetime, timezone

    if not stamp:
        return ""
    try:
        then = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return ""
    now = NOW[0] if NOW else datetime.now(timezone.utc)
    secs = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return "now"
