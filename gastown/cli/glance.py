"""`gt status` for people: the town at a glance (stdlib only: `gt status` is on the fast
path agents use, and humans run it often too)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any

from gastown.timetext import local_time, retry_line


def glance_text(g: dict[str, Any]) -> str:
    needs = (len(g["escalations"]) + len(g["failed"]) + len(g["merges"]) + len(g["held"])
             + len(g["agents_in_trouble"]) + len(g.get("parked_rigs") or []) + (1 if g.get("paused") else 0))
    lines = [f"town {g['town']} · {len(g['working'])} working · {needs} need{'s' if needs == 1 else ''} you"
             f" · {len(g['retrying'])} waiting to retry"]
    if g["working"]:
        lines.append("WORKING")
        for w in g["working"]:
            what = f"{w['bead']} {w['title'] or ''}".strip() if w["bead"] else "(no bead)"
            said = f" — “{w['status_message']}”" if w.get("status_message") else ""
            lines.append(f"  {w['name']:<10} {w['status']:<9} {what}{said} (since {local_time(w.get('since'))})")
    need: list[str] = []
    if g.get("paused"):
        need.append("  ⏸ the town is paused (gt town resume)")
    need += [f"  ⏸ rig {r} is parked (gt rig unpark {r})" for r in g.get("parked_rigs") or []]
    need += [f"  ! escalation {e['id']} ({e['severity']}): {e['title']}" for e in g["escalations"]]
    need += [f"  ✗ failed {b['id']} {b['title']}" + (f": {b['failure']}" if b.get("failure") else "")
             for b in g["failed"]]
    need += [f"  ⚠ merge {m['id']} for {m['source']}: {m['reason'] or 'failed'} (gt mq retry {m['id']})"
             for m in g["merges"]]
    need += [f"  ⏸ held {b['id']} {b['title']}" + (f": {b['reason']}" if b.get("reason") else "")
             + f" (gt bead release {b['id']})" for b in g["held"]]
    need += [f"  ✗ agent {a['name']} is {a['status']} (gt agent reset {a['name']})" for a in g["agents_in_trouble"]]
    lines += ["NEEDS YOU", *need] if need else ["nothing needs you"]
    if g["retrying"]:
        lines.append("WAITING TO RETRY")
        lines += [f"  {b['id']} {b['title']}: {retry_line(b['retry'])}" for b in g["retrying"]]
    return "\n".join(lines) + "\n"
