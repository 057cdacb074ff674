"""What the dashboard knows about the town, and how daemon events change it.

Plain Python (no textual): the app loads snapshots into a `TownState`, feeds it batches of
events, and redraws only what `apply` reports as changed. Events carry absolute values
(`new_value` is the new status), so replaying one the snapshot already contains is harmless.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from gastown import model
from gastown.model import BeadStatus, BeadType, EventType, Severity, values

Row = dict[str, Any]

STATUSES = tuple(values(BeadStatus))
TERMINAL = tuple(s.value for s in BeadStatus if s.terminal)
STATUS_TITLES = {s: s.replace("_", " ") for s in STATUSES}
_T = BeadType
TYPES = tuple(t.value for t in (_T.ISSUE, _T.MERGE_REQUEST, _T.ESCALATION, _T.CONVOY, _T.MESSAGE, _T.MOLECULE,
                                _T.AGENT))
"""The board's type filter, in the order it cycles through them."""
AGENT_ORDER = {a.value: i for i, a in enumerate(model.AGENT_ORDER)}
FEED = 200
"""Lines the activity feed keeps: a flood of events is described only this far back."""
WINDOW = 300
"""Beads loaded per board column; more on demand ("load more" at the end of a column)."""
SLACK = 200
"""A column may grow this far past its window from live events before the tail is trimmed."""
_E = EventType
STATUS_EVENTS = (_E.STATUS_CHANGED, _E.CLOSED, _E.REOPENED)
AGENT_EVENTS = (_E.AGENT_STATUS, _E.AGENT_STATUS_MESSAGE, _E.TURN_EXITED, _E.HOOKED, _E.UNHOOKED)
REVIEW_EVENTS = (_E.REVIEW_APPROVED, _E.REVIEW_CHANGES_REQUESTED, _E.REVIEW_PENDING, _E.REVIEW_MISSING)
CONVOY_EVENTS = (_E.MERGED, *REVIEW_EVENTS)
"""Besides convoy_*: what moves a convoy's progress (its members' status changes too)."""
ESCALATION_EVENTS = (_E.ESCALATED, _E.REESCALATED)
MAIL_EVENTS = (_E.MAIL_SENT, _E.MAIL_DELIVERED)
"""Reading a message closes it: that arrives as a status event."""
SEVERITIES = tuple(reversed(values(Severity)))
"""Most severe first."""
REFINERY_EVENTS = (_E.MERGED, _E.REWORK_REQUESTED, _E.PR_CREATED, _E.ESCALATED, *REVIEW_EVENTS)


@dataclass
class Filter:
    rig: str | None = None
    type: str | None = "issue"
    text: str = ""
    convoy: str | None = None
    """Local: members carry metadata.convoy."""

    def matches(self, row: Row) -> bool:
        if self.convoy is not None and (row.get("metadata") or {}).get("convoy") != self.convoy:
            return False
        if self.rig is not None and row.get("rig") != self.rig:
            return False
        if self.type is not None and row.get("type") != self.type:
            return False
        if self.text:
            needle = self.text.lower()
            hay = " ".join(str(row.get(k) or "") for k in ("id", "title", "assignee", "rig"))
            hay += " " + " ".join(row.get("labels") or [])
            return needle in hay.lower()
        return True

    @property
    def server_counts_apply(self) -> bool:
        """`town.show` counts issues by status over the whole town: exact for this filter."""
        return self.rig is None and self.type == "issue"


def sort_key(row: Row) -> tuple[Any, ...]:
    if row.get("status") in TERMINAL:  # newest first
        stamp = row.get("closed_at") or row.get("updated_at") or ""
        return (_neg(stamp), row.get("id", ""))
    return (row.get("priority", 2), row.get("created_at") or "", row.get("id", ""))


def _neg(stamp: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in stamp)


@dataclass
class Changes:
    """What one batch of events touched: which columns to redraw, what to reload or fetch."""

    columns: set[str] = field(default_factory=set)
    agents: bool = False
    mq: bool = False
    counts: bool = False
    reload_agents: bool = False
    reload_mq: bool = False
    reload_counts: bool = False
    feed: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    fetch: set[str] = field(default_factory=set)
    pages: set[str] = field(default_factory=set)
    """Redraw these pages: convoys, escalations, mail, chat."""
    reload: set[str] = field(default_factory=set)
    """Load these again (throttled): convoys, escalations, mail."""
    at_once: bool = False
    """Draw every changed column in one frame: a snapshot or a filter someone is waiting for
    (events may spread a board-wide change over several frames)."""

    def __bool__(self) -> bool:
        return bool(self.columns or self.agents or self.mq or self.counts or self.reload_agents or self.reload_mq or self.reload_counts
                    or self.feed or self.activity or self.fetch or self.pages or self.reload)


class Board:
    """The beads the board holds: one window per status column, plus whatever events added."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.filter = Filter()
        self.limits = {s: WINDOW for s in STATUSES}
        self.truncated = {s: False for s in STATUSES}
        self.counts: dict[str, int] = {}
        self.loaded = False

    def load(self, by_status: dict[str, list[Row]], counts: dict[str, int] | None = None) -> None:
        for status, rows in by_status.items():
            for bead_id in [i for i, r in self.rows.items() if r.get("status") == status]:
                del self.rows[bead_id]
            for row in rows:
                self.rows[row["id"]] = row
            self.truncated[status] = len(rows) >= self.limits[status]
        if counts is not None:
            self.counts = {s: int(counts.get(s, 0)) for s in STATUSES}
        self.loaded = True

    def column(self, status: str) -> list[Row]:
        rows = [r for r in self.rows.values() if r.get("status") == status and self.filter.matches(r)]
        rows.sort(key=sort_key)
        return rows

    def count_label(self, status: str, shown: int) -> str:
        if self.filter.server_counts_apply and self.counts:
            total = self.counts.get(status, 0)
            return f"{shown:,}/{total:,}" if self.filter.text or shown < total else f"{total:,}"
        return f"{shown:,}+" if self.truncated[status] else f"{shown:,}"

    def upsert(self, row: Row) -> set[str]:
        old = self.rows.get(row["id"])
        self.rows[row["id"]] = row
        return {s for s in ((old or {}).get("status"), row.get("status")) if s}

    def trim(self) -> None:
        """Keep every column bounded under a flood of events: drop the tail past window + slack."""
        sizes: dict[str, int] = {}
        for row in self.rows.values():
            status = str(row.get("status"))
            sizes[status] = sizes.get(status, 0) + 1
        for status, size in sizes.items():
            if status in self.limits and size > self.limits[status] + SLACK:
                self._trim(status)

    def _trim(self, status: str) -> None:
        rows = [r for r in self.rows.values() if r.get("status") == status]
        rows.sort(key=sort_key)
        for row in rows[self.limits[status] + SLACK:]:
            del self.rows[row["id"]]
        self.truncated[status] = True

    def apply(self, ev: Row, changes: Changes, types: dict[str, str]) -> None:
        kind, bead_id = ev.get("event_type"), ev.get("bead_id")
        if not bead_id:
            return
        row = self.rows.get(bead_id)
        if kind == _E.CREATED:
            meta = ev.get("metadata") or {}
            btype = meta.get("type") or "issue"
            if btype == "issue":
                changes.reload_counts = True
            if row is None and self.filter.type in (None, btype) and btype != "agent":
                stub = {"id": bead_id, "type": btype, "title": meta.get("title") or "…", "status": "open",
                        "priority": 2, "created_at": ev.get("created_at"), "updated_at": ev.get("created_at"),
                        "rig": None, "assignee": None, "labels": [], "_stub": True}
                self.rows[bead_id] = stub
                changes.columns.add("open")
                changes.fetch.add(bead_id)
            return
        if kind in STATUS_EVENTS:
            new = ev.get("new_value")
            if new not in STATUSES:
                return
            btype = row.get("type") if row else types.get(bead_id)
            if btype in ("issue", None):
                changes.reload_counts = True  # counts are the daemon's (town.show), never summed from events
            if row is None and btype is not None and self.filter.type not in (None, btype):
                return  # not on this board
            if row is None:
                row = {"id": bead_id, "type": types.get(bead_id), "title": "…", "status": new, "priority": 2,
                       "created_at": ev.get("created_at"), "rig": None, "assignee": None, "labels": [],
                       "_stub": True}
                self.rows[bead_id] = row
                changes.fetch.add(bead_id)
            if row.get("status") != new:
                changes.columns.update({row.get("status"), new} - {None})
            row["status"] = new
            row["updated_at"] = ev.get("created_at")
            row["closed_at"] = ev.get("created_at") if new in TERMINAL else None
            failure = (ev.get("metadata") or {}).get("failure_reason")
            if failure:
                row["failure_reason"] = failure
            elif kind == _E.REOPENED:
                row["failure_reason"] = None
            changes.columns.add(new)
        elif row is not None and kind in (_E.HOOKED, _E.UNHOOKED):
            if kind == _E.HOOKED:
                row["assignee"] = ev.get("new_value")
            elif (ev.get("metadata") or {}).get("failure_reason"):  # given back: the store cleared it too
                row["assignee"] = None
            changes.columns.add(row["status"])
        elif row is not None and kind in (_E.FIELDS_UPDATED, _E.DEPENDENCY_ADDED, _E.DEPENDENCY_REMOVED,
                                          _E.HELD, _E.RELEASED, _E.RETRY):
            changes.fetch.add(bead_id)
        elif row is not None and kind == _E.ARCHIVED:
            del self.rows[bead_id]  # archived beads leave the board
            changes.columns.add(str(row.get("status")))
            changes.reload_counts = True

class TownState:
    """Everything the screens draw. The app owns it; screens read it when told to redraw."""

    def __init__(self) -> None:
        self.town = ""
        self.rigs: list[str] = []
        self.board = Board()
        self.agents: dict[str, Row] = {}
        self.mrs: list[Row] = []
        self.escalations: list[Row] = []
        self.types: dict[str, str] = {}
        self.feed: deque[str] = deque(maxlen=FEED)
        self.activity: deque[str] = deque(maxlen=200)
        self.events_seen = 0
        self.convoys: list[Row] = []
        self.convoy_members: set[str] = set()
        self.escalation_list: list[Row] = []
        self.mail: list[Row] = []
        self.chat: list[Row] = []
        """This session's mayor chat: {role: human|mayor, text, status|done, error?, id|for, tools}."""
        self.mayor_history: list[Row] = []
        self.stats: Row | None = None  # town.stats of the last 24 h (the costs page)
        self.budgets: list[Row] = []
        """The conversation as the daemon keeps it (`mayor.history`): every human, every client."""

    # ----------------------------------------------------------------- snapshots
    def set_convoys(self, convoys: list[Row]) -> None:
        self.convoys = convoys
        self.convoy_members = {m["id"] for c in convoys for m in c.get("members") or []}
        for c in convoys:
            self.types[c["id"]] = "convoy"

    def set_escalations(self, rows: list[Row]) -> None:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        self.escalation_list = sorted(rows, key=lambda e: (bool(e.get("acknowledged")),
                                                           order.get(e.get("severity") or "", 9),
                                                           _neg(str(e.get("created_at") or ""))))
        for e in rows:
            self.types[e["id"]] = "escalation"

    def set_mail(self, rows: list[Row]) -> None:
        self.mail = sorted(rows, key=lambda r: (str(r.get("created_at") or ""), r.get("id", "")), reverse=True)

    def unacknowledged(self) -> tuple[int, bool]:
        """How many escalations wait for a human, and whether one is high or critical."""
        open_ = [e for e in self.escalation_list if not e.get("acknowledged")]
        return len(open_), any(e.get("severity") in ("critical", "high") for e in open_)

    def chat_view(self) -> list[Row]:
        """What the chat page shows: the daemon's history (both sides, any client), then this
        session's entries the history does not hold yet (queued, sending, the streaming answer).
        Rows: {role: human|mayor, who, text, done, error, status, tools, context}."""
        out: list[Row] = []
        ids = [str(r.get("id")) for r in self.mayor_history]
        for r in self.mayor_history:
            meta = r.get("metadata") or {}
            mayor = meta.get("kind") == "reply"
            out.append({"role": "mayor" if mayor else "human", "who": "mayor" if mayor else
                        str(meta.get("from") or r.get("created_by") or "human"),
                        "text": str(r.get("body") or r.get("title") or ""), "done": True})
        answered = {ids[i] for i in range(len(ids)) if any(
            (self.mayor_history[j].get("metadata") or {}).get("kind") == "reply" for j in range(i + 1, len(ids)))}
        for c in self.chat:
            if c["role"] == "human" and c.get("id") in ids:
                continue
            if c["role"] == "mayor" and c.get("done") and c.get("for") in answered:
                continue
            out.append({**c, "who": "you" if c["role"] == "human" else "mayor", "done": c.get("done", True)})
        return out
    def set_town(self, info: Row) -> None:
        self.town = info.get("name") or info.get("id") or ""
        self.rigs = list(info.get("rigs") or [])
        if info.get("beads") is not None:
            self.board.counts = {s: int(info["beads"].get(s, 0)) for s in STATUSES}

    def set_agents(self, agents: Iterable[Row]) -> None:
        self.agents = {a["name"]: a for a in agents}

    def set_mq(self, mrs: list[Row], escalations: list[Row]) -> None:
        self.mrs = mrs
        self.escalations = escalations
        for mr in mrs:
            self.types[mr["id"]] = "merge_request"

    def remember_types(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if row.get("type"):
                self.types[row["id"]] = row["type"]

    # -------------------------------------------------------------------- events
    def apply(self, events: Iterable[Row]) -> Changes:
        changes = Changes()
        agent_beads = {a.get("bead_id"): a for a in self.agents.values()}
        events = list(events)
        for ev in events:
            self.events_seen += 1
            kind, bead_id, meta = ev.get("event_type"), ev.get("bead_id"), ev.get("metadata") or {}
            if kind == _E.CREATED and bead_id and meta.get("type"):
                self.types[bead_id] = meta["type"]
            self.board.apply(ev, changes, self.types)
            agent = agent_beads.get(bead_id) or self.agents.get(meta.get("agent") or "")
            if kind in AGENT_EVENTS or (kind == _E.CREATED and meta.get("type") == "agent"):
                self._apply_agent(ev, agent, changes)
            btype = self.types.get(bead_id or "")
            if str(kind).startswith("convoy_") or kind in CONVOY_EVENTS or btype == "convoy" or \
                    (bead_id in self.convoy_members and kind in STATUS_EVENTS):
                changes.reload.add("convoys")
            if kind in ESCALATION_EVENTS or (btype == "escalation" and kind in STATUS_EVENTS):
                changes.reload.add("escalations")
            if kind in MAIL_EVENTS or (btype == "message" and kind in (*STATUS_EVENTS, _E.CREATED)) or \
                    (kind == _E.CREATED and meta.get("type") == "message"):
                changes.reload.add("mail")
            if kind in REFINERY_EVENTS or btype == "merge_request":
                changes.activity.append(describe(ev))
                changes.mq = changes.reload_mq = True
        if changes.columns:
            self.board.trim()
        changes.feed = [describe(ev) for ev in events[-FEED:]]  # the feeds keep no more
        self.feed.extend(changes.feed)
        self.activity.extend(changes.activity)
        return changes

    def preload(self, history: Iterable[Row], upto: int) -> None:
        """Recent history (town.feed) goes in front of the activity panes, so a town with a
        past does not start empty; events after `upto` arrive live and are not repeated."""
        past = [ev for ev in history if int(ev.get("seq") or 0) <= upto]
        feed = [describe(ev) for ev in past]
        activity = [describe(ev) for ev in past if ev.get("event_type") in REFINERY_EVENTS
                    or ev.get("bead_type") == "merge_request"]
        self.feed = deque([*feed, *self.feed][-200:], maxlen=200)
        self.activity = deque([*activity, *self.activity][-200:], maxlen=200)

    def _apply_agent(self, ev: Row, agent: Row | None, changes: Changes) -> None:
        kind = ev.get("event_type")
        if kind in (_E.HOOKED, _E.UNHOOKED):
            name = ev.get("new_value") if kind == _E.HOOKED else ev.get("old_value")
            agent = self.agents.get(name or "")
            if agent is not None:
                agent["hook_bead_id"] = ev.get("bead_id") if kind == _E.HOOKED else None
                changes.agents = True
            return
        if agent is None:
            changes.reload_agents = True
            return
        if kind == _E.AGENT_STATUS:
            agent["status"] = ev.get("new_value")
        elif kind == _E.AGENT_STATUS_MESSAGE:
            agent["status_message"] = ev.get("new_value")
        elif kind == _E.TURN_EXITED:
            meta = ev.get("metadata") or {}
            agent["tokens_in"] = int(agent.get("tokens_in") or 0) + int(meta.get("tokens_in") or 0)
            agent["tokens_out"] = int(agent.get("tokens_out") or 0) + int(meta.get("tokens_out") or 0)
        changes.agents = True

    # ------------------------------------------------------------------ derived
    def sorted_agents(self) -> list[Row]:
        return sorted(self.agents.values(), key=lambda a: (AGENT_ORDER.get(a.get("status") or "", 9), a["name"]))

    def merges_today(self, today: str | None = None) -> int:
        day = today or datetime.now(timezone.utc).strftime("%Y-%m-%d")
        return sum(1 for m in self.mrs if m.get("merge_commit") and m.get("status") == "closed"
                   and str(m.get("updated_at") or "").startswith(day))

    def tokens(self) -> tuple[int, int]:
        return (sum(int(a.get("tokens_in") or 0) for a in self.agents.values()),
                sum(int(a.get("tokens_out") or 0) for a in self.agents.values()))

    def needs_attention(self) -> list[Row]:
        """Failed merges whose work is not done yet, and unacknowledged open escalations."""
        out: list[Row] = []
        latest = {mr.get("source_bead_id"): mr["id"] for mr in self.mrs}  # queue order: the last is the newest
        for mr in self.mrs:
            if mr.get("status") != "failed" or mr.get("source_status") == "closed" or \
                    latest.get(mr.get("source_bead_id")) != mr["id"]:
                continue
            failed = [g for g in mr.get("gates") or [] if g.get("exit_code") not in (0, None)]
            what = (f"gate {failed[0].get('name')} exited {failed[0].get('exit_code')}" if failed
                    else "merge failed (conflict or push)")
            out.append({"kind": "merge", "id": mr["id"], "title": mr.get("title", ""), "detail": what,
                        "source": mr.get("source_bead_id")})
        for esc in self.escalations:
            if esc.get("status") not in TERMINAL:
                meta = esc.get("metadata") or {}
                out.append({"kind": "escalation", "id": esc["id"], "title": esc.get("title", ""),
                            "detail": f"from {meta.get('source') or esc.get('created_by') or '?'}",
                            "source": meta.get("bead")})
        return out


def describe(ev: Row) -> str:
    """One line for the activity feeds."""
    stamp = str(ev.get("created_at") or "")[11:19]
    kind, bead, actor = ev.get("event_type"), ev.get("bead_id") or "", ev.get("actor") or ""
    old, new = ev.get("old_value"), ev.get("new_value")
    meta = ev.get("metadata") or {}
    if kind in STATUS_EVENTS:
        what = f"{old} → {new}"
    elif kind == _E.CREATED:
        what = f"created {meta.get('type', '')} {meta.get('title', '')!r}"
    elif kind == _E.MERGED:
        what = f"merged {str(new or '')[:10]} on {meta.get('landed_on', '')}"
    elif kind in ("agent_status",):
        what = f"{meta.get('agent', '')}: {old} → {new}"
    elif kind == _E.AGENT_STATUS_MESSAGE:
        what = f"{meta.get('agent', '')}: {new}"
    elif kind == _E.HOOKED:
        what = f"hooked on {new}"
    elif kind == _E.REWORK_REQUESTED:
        what = f"rework: {(meta.get('failure_reason') or {}).get('message', '')}"
    else:
        what = " ".join(str(v) for v in (kind, new) if v)
    return f"{stamp} {bead:<10} {what}" + (f"  ({actor})" if actor and kind not in ("agent_status_message",) else "")
