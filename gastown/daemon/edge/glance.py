"""The town at a glance, for `gt status` without a message: what is working, what needs
a human (escalations, failed beads, merges that need attention, held work, parked rigs, a
paused town), and what waits for a retry. One read over the store (its own thread)."""

from __future__ import annotations

from typing import Any, Callable

from gastown.daemon.store import holds
from gastown.daemon.rules import retries
from gastown.daemon.store import Row

BUSY = ("starting", "working", "stalled")
LIMIT = 50


def glance(store: Any, config: Callable[..., tuple[Any, str]]) -> Row:
    agents = store.agent_list()
    working = [{"name": a["name"], "status": a["status"], "role": a["role"], "adapter": a["adapter"],
                "bead": a["hook_bead_id"], "title": (a.get("hook") or {}).get("title") if a.get("hook") else None,
                "status_message": a["status_message"], "since": a["turn_started_at"]}
               for a in agents if a["status"] in BUSY]
    for w in working:
        if w["bead"] and not w["title"]:
            w["title"] = store.bead_row(w["bead"])["title"]
    troubled = [{"name": a["name"], "status": a["status"]} for a in agents if a["status"] in ("failed", "quarantined")]
    failed = [_brief(b) for b in store.bead_list(status="failed", type="issue", limit=LIMIT, newest_first=True)]
    held = [{**_brief(b), "reason": ((b.get("metadata") or {}).get("hold") or {}).get("reason")}
            for b in store.bead_list(label=holds.HELD, limit=LIMIT, newest_first=True)]
    mrs = [m for m in store.merge_requests(status="failed") if m.get("source_status") != "closed"]
    escalations = [{"id": e["id"], "title": e["title"], "severity": e.get("severity")}
                   for e in store.escalation_list()]
    retrying = []
    for b in store.bead_list(status="open", type="issue", limit=1000):
        state = retries.annotate(b, config).get("retry")
        if state:
            retrying.append({**_brief(b), "retry": state})
    return {"working": working, "agents_in_trouble": troubled, "escalations": escalations, "failed": failed,
            "merges": [{"id": m["id"], "title": m["title"], "source": m.get("source_bead_id"),
                        "reason": (m.get("failure_reason") or {}).get("message")} for m in mrs],
            "held": held, "retrying": retrying, **holds.town_state(store), "counts": store.counts()}


def _brief(b: Row) -> Row:
    return {"id": b["id"], "title": b["title"], "rig": b.get("rig"),
            "failure": (b.get("failure_reason") or {}).get("message")}
