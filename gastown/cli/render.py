"""Plain-text and JSON rendering shared by the fast path and the Typer commands.

Stdlib only, so `gt bead show` renders the same on both paths.
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any, Iterable


def json_lines(objs: Iterable[dict[str, Any]]) -> str:
    """One JSON object per line (the --json contract)."""
    return "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=False) + "\n" for o in objs)


def cell(value: Any) -> str:
    """One table cell: nothing for None, a list comma-separated."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def emit_json(objs: Iterable[dict[str, Any]]) -> None:
    sys.stdout.write(json_lines(objs))


def bead_text(b: dict[str, Any]) -> str:
    lines = [f"{b['id']}  [{b['status']}]  {b['title']}"]
    fields = [
        ("type", b.get("type")), ("rig", b.get("rig")), ("priority", f"P{b.get('priority')}"),
        ("assignee", b.get("assignee")), ("parent", b.get("parent")),
        ("labels", ", ".join(b.get("labels") or []) or None),
        ("requested by", b.get("requested_by")), ("created", b.get("created_at")),
        ("updated", b.get("updated_at")), ("closed", b.get("closed_at")),
        ("close reason", b.get("close_reason")),
    ]
    lines += [f"  {k:<13}{v}" for k, v in fields if v not in (None, "")]
    failure = b.get("failure_reason")
    if b.get("retry"):  # the latest failure, as the retry it is waiting for
        from gastown.timetext import retry_line  # only a bead waiting for a retry needs it

        lines.append(f"  RETRY: {retry_line(b['retry'])}")
    elif failure and b.get("status") in ("open", "failed"):  # resolved failures stay in the events
        lines.append(f"  FAILED: [{failure.get('code', '?')}] {failure.get('message', '')}")
        for key in ("source", "details"):
            if failure.get(key):
                lines.append(f"    {key}: {json.dumps(failure[key]) if not isinstance(failure[key], str) else failure[key]}")
    for title, key in (("depends on", "depends_on"), ("dependents", "dependents")):
        deps = b.get(key) or []
        if deps:
            lines.append(f"  {title}:")
            lines += [f"    {d['id']}  {d['type']:<12} [{d['status']}]  {d['title']}" for d in deps]
    if b.get("metadata"):
        lines.append(f"  metadata:    {json.dumps(b['metadata'], ensure_ascii=False)}")
    if b.get("body"):
        lines.append("")
        lines += ["  " + line for line in b["body"].splitlines()]
    return "\n".join(lines) + "\n"


