"""The dashboard against a fake daemon client: pilots, the live event path, scale (10,000
beads, floods of events) and snapshots. Timings live in bench/bench_tui.py, not here."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, cast

import pytest
from textual.coordinate import Coordinate
from textual.widgets import Input

from gastown.protocol import ErrorCode, Method, RpcError
from gastown.tui import messages as m
from gastown.tui.app import GastownApp, make_app
from gastown.tui.screens.agent import AgentDrawer
from gastown.tui.screens.chat import ChatScreen
from gastown.tui.screens.drawers import BeadDrawer, MergeRequestDrawer
from gastown.tui.state import STATUSES
from gastown.tui.widgets.bead_list import BeadList
from gastown.tui.widgets.terminal import Terminal

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def stamp(i: int) -> str:
    return (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


STATS = {"id": "t", "since": "2026-01-01T00:00:00.000000Z", "hours": 24.0, "merged": 6, "merges_per_hour": 0.25,
         "median_sling_to_merged_s": 312.0, "first_try_pass_rate": 0.833, "rework_rate": 0.167, "failure_rate": 0.0,
         "agent_utilisation": 0.41, "queue_depth": {"ready_beads": 2, "merge_requests": 1}, "dollars": 3.6,
         "tokens": 3300, "series": {"ready": [0, 1, 3, 2, 2], "queued_mrs": [0, 0, 1, 1, 0], "working": [0, 1, 2, 2, 1]},
         "series_at": [], "by_model": [{"model": "fake-model", "dollars": 3.6, "turns": 3, "merged_beads": 3,
                                       "dollars_per_merged_bead": 1.2, "first_try_pass_rate": 1.0}]}
BUDGETS = [{"id": "rig:app", "scope": "rig", "key": "app", "tokens": None, "dollars": 2.0, "state": "exhausted",
            "used_tokens": 2200, "used_dollars": 2.4, "percent": 120.0, "status": "exhausted",
            "held_beads": ["t-abc"]}]


class FakeClient:
    """The daemon surface the TUI uses (`call`, `events`, `close`), in memory and thread-safe.

    `emit()` changes a bead the way the daemon does and appends the bead_events row;
    `down = True` makes every call and the stream fail like a stopped daemon."""

    def __init__(self, rigs: tuple[str, ...] = ("app", "web")) -> None:
        self.cond = threading.Condition()
        self.rigs = list(rigs)
        self.beads: dict[str, dict[str, Any]] = {}
        self.deps: list[tuple[str, str, str]] = []
        self.agents: dict[str, dict[str, Any]] = {}
        self.mrs: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.history: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.closed = False
        self.down = False
        self.subscriptions = 0
        self.clock = 0
        self.diffs: dict[str, dict[str, Any]] = {}
        self.transcripts: dict[str, list[dict[str, Any]]] = {}
        self.inputs: list[tuple[str, str]] = []
        self.convoys: dict[str, dict[str, Any]] = {}
        self.escalations: dict[str, dict[str, Any]] = {}
        self.mail: dict[str, dict[str, Any]] = {}
        self.mayor: dict[str, Any] = {
            "text": "", "done": True, "replies": [], "sent": [], "script": ["Hello", " from the mayor."],
            "contexts": [], "history": [], "events": [], "hold": False,
            "tools": [{"kind": "tool_call", "tool": "bash", "args": "gt bead list", "id": "c1"},
                      {"kind": "tool_result", "id": "c1", "exit": 0, "ok": True}]}

    # ------------------------------------------------------------ building
    def tick(self) -> str:
        self.clock += 1
        return stamp(self.clock)

    def add_bead(self, bead_id: str, title: str, *, status: str = "open", type: str = "issue", rig: str = "app",
                 priority: int = 2, assignee: str | None = None, emit: bool = False, **extra: Any) -> dict[str, Any]:
        now = self.tick()
        row = {"id": bead_id, "type": type, "status": status, "title": title, "body": "", "rig": rig,
               "parent": None, "assignee": assignee, "priority": priority, "metadata": {}, "labels": [],
               "created_by": "human", "requested_by": "human", "created_at": now, "updated_at": now,
               "closed_at": now if status in ("closed", "failed") else None, "close_reason": None,
               "failure_reason": None, "dispatch_attempts": 0, "last_dispatch_at": None, **extra}
        with self.cond:
            self.beads[bead_id] = row
        if emit:
            self.emit(bead_id, "created", new="open", meta={"type": type, "title": title})
        return row

    def add_agent(self, name: str, status: str = "idle", **extra: Any) -> dict[str, Any]:
        row = {"name": name, "id": name, "bead_id": f"ag-{name}", "role": "polecat", "rig": "app",
               "adapter": "scripted", "status": status, "hook_bead_id": None, "worktree": f"/wt/{name}",
               "branch": None, "session_id": None, "status_message": None, "turn_dir": f"/turns/{name}/1",
               "turns": 1, "tokens_in": 0, "tokens_out": 0, "last_bead_id": None, **extra}
        self.agents[name] = row
        return row

    def emit(self, bead_id: str | None, event_type: str, *, old: str | None = None, new: str | None = None,
             meta: dict[str, Any] | None = None, actor: str = "system") -> dict[str, Any]:
        with self.cond:
            bead = self.beads.get(bead_id or "")
            if bead is not None and event_type in ("status_changed", "closed", "reopened"):
                old = old or bead["status"]
                bead["status"] = new
                bead["closed_at"] = self.tick() if new in ("closed", "failed") else None
            ev = {"town": "t", "seq": len(self.history) + 1, "bead_id": bead_id, "event_type": event_type,
                  "actor": actor, "old_value": old, "new_value": new, "metadata": meta or {},
                  "created_at": self.tick()}
            self.history.append(ev)
            self.cond.notify_all()
        return ev

    def move(self, bead_id: str, new: str) -> dict[str, Any]:
        return self.emit(bead_id, "closed" if new == "closed" else "status_changed", new=new)

    # ------------------------------------------------------------- surface
    def call(self, method: str, **params: Any) -> Any:
        if self.down:
            raise RpcError(ErrorCode.UNAVAILABLE, "the daemon closed the connection")
        self.calls.append(method)
        with self.cond:
            return self._call(method, params)

    def _call(self, method: str, p: dict[str, Any]) -> Any:
        if method == Method.TOWN_SHOW:
            counts: dict[str, int] = {}
            for b in self.beads.values():
                if b["type"] == "issue":
                    counts[b["status"]] = counts.get(b["status"], 0) + 1
            return {"id": "t", "name": "t", "rigs": self.rigs, "beads": counts}
        if method == Method.BEAD_LIST:
            rows = [b for b in self.beads.values()
                    if all(p.get(k) is None or b[k] == p[k] for k in ("status", "type", "rig"))]
            rows.sort(key=lambda b: (b["created_at"], b["id"]))
            limit = p.get("limit", 200)
            return [dict(b) for b in (rows[:limit] if limit else rows)]
        if method == Method.BEAD_SHOW:
            if p["id"] not in self.beads:
                raise RpcError(ErrorCode.NOT_FOUND, f"no bead {p['id']}")
            bead = dict(self.beads[p["id"]])
            bead["depends_on"] = [self._dep(d, t) for b, d, t in self.deps if b == p["id"]]
            bead["dependents"] = [self._dep(b, t) for b, d, t in self.deps if d == p["id"]]
            return bead
        if method == Method.BEAD_EVENTS:
            return [e for e in self.history if e["bead_id"] == p["id"]]
        if method == Method.AGENT_LIST:
            return [dict(a) for a in self.agents.values()]
        if method == Method.AGENT_SHOW:
            agent = dict(self.agents[p["name"]])
            agent["hook"] = dict(self.beads[agent["hook_bead_id"]]) if agent["hook_bead_id"] else None
            return agent
        if method == Method.AGENT_LOGS:
            data = self.logs.get(p["name"], "")
            offset = p.get("offset", -65536)
            offset = max(0, len(data) + offset) if offset < 0 else offset
            return {"id": p["name"], "turn_dir": self.agents[p["name"]]["turn_dir"], "offset": len(data),
                    "data": data[offset:], "running": True}
        if method == Method.MQ_LIST:
            return [{**self.beads[i], **mr, "id": i, "source_status": self.beads[mr["source_bead_id"]]["status"]}
                    for i, mr in self.mrs.items()]
        if method == Method.MQ_SHOW:
            if p["id"] not in self.mrs:
                raise RpcError(ErrorCode.NOT_FOUND, f"{p['id']} is not a merge request")
            return {**self.beads[p["id"]], **self.mrs[p["id"]], "id": p["id"]}
        if method == Method.BEAD_DIFF:
            return self.diffs.get(p["id"]) or {"id": p["id"], "available": False, "reason": "no branch yet"}
        if method == Method.AGENT_INPUT:
            self.inputs.append((p["name"], p["data"]))
            return {"name": p["name"], "bytes": len(p["data"])}
        if method == Method.CONVOY_LIST:
            return [self._convoy(c) for c in self.convoys]
        if method == Method.CONVOY_SHOW:
            return self._convoy(p["id"])
        if method == Method.ESCALATION_LIST:
            return [dict(e) for e in self.escalations.values() if p.get("all") or not e["acknowledged"]]
        if method == Method.BEAD_APPROVE:
            self.beads[p["id"]].update(status="closed", close_reason="approved")
            self.emit(p["id"], "approved")
            return dict(self.beads[p["id"]])
        if method == Method.ESCALATION_ACK:
            self.escalations[p["id"]]["acknowledged"] = True
            return dict(self.escalations[p["id"]])
        if method == Method.MAIL_INBOX:
            return [dict(r) for r in self.mail.values() if (r["metadata"].get("to") or "human") == p.get("box", "human")]
        if method == Method.MAIL_READ:
            self.mail[p["id"]]["status"] = "closed"
            return dict(self.mail[p["id"]])
        if method == Method.MAYOR_SEND:
            mayor = self.mayor
            if not mayor["done"]:
                raise RpcError(ErrorCode.CONFLICT, "the mayor is still answering the previous message")
            mayor["sent"].append(p["message"])
            mayor["contexts"].append(p.get("context"))
            msg_id = f"gt-mc{len(mayor['sent'])}"
            mayor["history"].append(self._chat_row(msg_id, p["message"], "human", "chat"))
            mayor.update(text="", done=False, replies=list(mayor["script"]), events=[])
            return {"id": msg_id, "status": "sent", "turn_dir": "/turns/mayor/1", "resumed": False}
        if method == Method.MAYOR_REPLY:
            mayor = self.mayor
            if mayor["replies"] and not mayor["hold"]:
                if not mayor["events"]:
                    mayor["events"] = list(mayor["tools"])  # the mayor looks something up first
                mayor["text"] += mayor["replies"].pop(0)
                if not mayor["replies"]:
                    mayor["done"] = True  # the daemon archives the answer as the turn ends
                    mayor["history"].append(self._chat_row(f"gt-mr{len(mayor['history'])}", mayor["text"],
                                                           "mayor", "reply"))
            return {"id": "mayor", "text": mayor["text"], "done": mayor["done"], "exit_code": 0, "session_id": "s1"}
        if method == Method.MAYOR_HISTORY:
            return [dict(r) for r in self.mayor["history"]][-p.get("limit", 50):]
        if method == Method.AGENT_TRANSCRIPT:
            events = self.mayor["events"] if p["name"] == "mayor" else self.transcripts.get(p["name"], [])
            offset = p.get("offset", 0)
            return {"id": p["name"], "agent": p["name"], "events": events[offset:], "offset": len(events),
                    "total": len(events), "running": True, "turn": "0001", "summary": None}
        if method == Method.TOWN_FEED:
            rows = [{**e, "title": (self.beads.get(e["bead_id"] or "") or {}).get("title")} for e in self.history]
            rows = rows[-p.get("limit", 200):]
            return {"town": "t", "events": rows, "seq": rows[-1]["seq"] if rows else 0}
        if method == Method.STATS:
            return STATS
        if method == Method.BUDGET_SHOW:
            return BUDGETS
        if method == Method.EVENTS_SUBSCRIBE:
            self.subscriptions += 1
            return {"town": "t", "since": p.get("since"), "seq": len(self.history)}
        raise RpcError(ErrorCode.METHOD_NOT_FOUND, method)

    def _chat_row(self, msg_id: str, text: str, sender: str, kind: str) -> dict[str, Any]:
        return {"id": msg_id, "type": "message", "title": text[:200], "body": text, "created_at": self.tick(),
                "created_by": sender, "metadata": {"from": sender, "to": "human" if kind == "reply" else "mayor",
                                                   "kind": kind}}

    def _convoy(self, convoy_id: str) -> dict[str, Any]:
        members = [dict(self.beads[i]) for i in self.convoys[convoy_id]["members"]]
        progress = {s: sum(1 for b in members if b["status"] == s) for s in STATUSES}
        return {**self.beads[convoy_id], **self.convoys[convoy_id], "total": len(members), "progress": progress,
                "members": members}

    def _dep(self, bead_id: str, dep_type: str) -> dict[str, Any]:
        b = self.beads[bead_id]
        return {"id": bead_id, "type": dep_type, "status": b["status"], "title": b["title"]}

    def events(self, since: int | None = None) -> Iterator[dict[str, Any]]:
        cursor = len(self.history) if since is None else since
        while True:
            with self.cond:
                while not self.closed and not self.down and len(self.history) <= cursor:
                    self.cond.wait(0.05)
                if self.closed:
                    return
                if self.down:
                    raise RpcError(ErrorCode.UNAVAILABLE, "the daemon closed the connection")
                batch = self.history[cursor:cursor + 500]
            for ev in batch:
                cursor = ev["seq"]
                yield ev

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def town(n_beads: int = 0) -> FakeClient:
    """A small town: two rigs, three agents, a merged and a failed merge request, an escalation."""
    fake = FakeClient()
    fake.add_bead("gt-a1", "add mul", status="in_progress", assignee="toast")
    fake.add_bead("gt-b2", "add sub", status="open", priority=1)
    fake.add_bead("gt-c3", "add div", status="in_review", assignee=None)
    fake.add_bead("gt-d4", "fix web", status="closed", rig="web")
    fake.add_bead("gt-e5", "broken", status="failed",
                  failure_reason={"code": "dispatch_exhausted", "message": "gave up after 3 attempts"})
    fake.add_bead("gt-mr1", "merge gt/maple/gt-c3", status="failed", type="merge_request",
                  failure_reason={"code": "gate_failed", "message": "gate pytest exited 1",
                                  "details": {"gate": "pytest", "exit_code": 1, "output_tail": "1 failed"}})
    fake.mrs["gt-mr1"] = {"bead_id": "gt-mr1", "source_bead_id": "gt-c3", "rig": "app",
                          "branch": "gt/maple/gt-c3", "target_branch": "main", "head_sha": "abc123",
                          "merge_commit": None, "pr_url": None, "retry_count": 0,
                          "gates": [{"name": "pytest", "cmd": "python3 -m pytest -q", "exit_code": 1,
                                     "duration_s": 1.5, "timed_out": False, "output_tail": "1 failed"}]}
    fake.add_bead("gt-x9", "gt-e5 failed in the merge queue 3 times", type="escalation",
                  metadata={"source": "refinery", "bead": "gt-e5"})
    fake.deps.append(("gt-mr1", "gt-c3", "tracks"))
    fake.deps.append(("gt-b2", "gt-a1", "blocks"))
    fake.emit("gt-c3", "hooked", new="maple")
    fake.emit("gt-c3", "agent_done", actor="maple",
              meta={"head_sha": "abc123", "branch": "gt/maple/gt-c3", "mr": "gt-mr1", "summary": "div"})
    fake.add_agent("toast", status="working", hook_bead_id="gt-a1", branch="gt/toast/gt-a1",
                   status_message="running the tests", tokens_in=1200, tokens_out=300)
    fake.add_agent("maple", status="idle", last_bead_id="gt-c3")
    fake.add_agent("birch", status="failed", status_message="crashed")
    fake.transcripts["toast"] = [
        {"kind": "text", "text": "I will add mul and run the tests."},
        {"kind": "tool_call", "tool": "bash", "args": "python3 -m pytest -q", "id": "t1"},
        {"kind": "tool_result", "id": "t1", "exit": 0, "ok": True, "lines": 1, "tail": ["2 passed"]}]
    fake.logs["toast"] = "\x1b[32mhello from toast\x1b[0m\r\nstep 1 ok\r\n"
    fake.diffs["gt-c3"] = {
        "id": "gt-c3", "available": True, "branch": "gt/maple/gt-c3", "base": "main", "merge_base": "0123456789ab",
        "head": "abc123", "truncated": False,
        "commits": [{"sha": "abc123def456", "subject": "add div", "author": "maple", "date": stamp(1)}],
        "stat": " calc.py | 3 +++\n 1 file changed, 3 insertions(+)",
        "diff": "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,5 @@\n def add(a, b):\n"
                "     return a + b\n+\n+def div(a, b):\n+    return a / b\n"}
    fake.add_bead("gt-cv1", "calculator convoy", type="convoy", status="in_progress")
    for bead_id in ("gt-a1", "gt-b2", "gt-c3"):
        fake.beads[bead_id]["metadata"] = {"convoy": "gt-cv1"}
    fake.convoys["gt-cv1"] = {"staged": False, "landed_at": None, "members": ["gt-a1", "gt-b2", "gt-c3"]}
    fake.escalations = {
        "gt-x9": {"id": "gt-x9", "severity": "medium", "title": "gt-e5 failed in the merge queue 3 times",
                  "body": "see gt-e5", "category": "merge", "acknowledged": False, "reescalation_count": 0,
                  "created_at": stamp(2)},
        "gt-x8": {"id": "gt-x8", "severity": "low", "title": "disk is filling up", "body": "", "category": "ops",
                  "acknowledged": True, "reescalation_count": 0, "created_at": stamp(1)}}
    fake.mail = {
        "gt-m0": {"id": "gt-m0", "type": "message", "title": "Earlier answer", "body": "Yes, **two** rigs.",
                  "status": "closed", "created_at": stamp(1), "created_by": "mayor",
                  "metadata": {"from": "mayor", "to": "human", "kind": "reply"}},
        "gt-m9": {"id": "gt-m9", "type": "message", "title": "done with gt-c3", "body": "The *div* is in review.",
                  "status": "open", "created_at": stamp(3), "created_by": "maple",
                  "metadata": {"from": "maple", "to": "human", "kind": "mail"}}}
    fake.mayor["history"] = [fake._chat_row("gt-mq0", "How many rigs are there?", "alice", "chat"),
                             {**fake.mail["gt-m0"]}]
    statuses = ("open", "in_progress", "in_review", "closed", "failed")
    for i in range(n_beads):
        fake.add_bead(f"gt-{i:05d}", f"bulk bead {i}", status=statuses[i % 5], rig=fake.rigs[i % 2],
                      priority=i % 5)
    return fake


async def until(pilot: Any, pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll with plain sleeps: `pilot.pause` would also force a repaint on every poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def column(app: GastownApp, status: str) -> BeadList:
    return app.page("board").query_one(f"#col-{status}", BeadList)


def head(app: GastownApp, status: str) -> str:
    return str(app.page("board").query_one(f"#head-{status}").render())


def ids(app: GastownApp, status: str) -> list[str]:
    return [r["id"] for r in column(app, status).rows]


def filled(app: GastownApp) -> bool:
    """Every board column is drawn with rows."""
    board = app.page("board")
    return board.is_mounted and all(column(app, s).rows for s in STATUSES)


def loaded(app: GastownApp) -> bool:
    return app.state.board.loaded and app.connected


def widget_text(widget: Any) -> str:
    """What a widget (and its children) painted, as plain text."""
    from textual.strip import Strip

    lines = [Strip(list(widget.render_line(y))).text for y in range(widget.size.height)] \
        if not widget.children else []
    return "\n".join(lines + [widget_text(child) for child in widget.children])


def agent_rows(app: GastownApp) -> list[str]:
    from textual.widgets import DataTable

    table = app.page("overview").query_one("#agents", DataTable)
    return [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(table.row_count)]


# ------------------------------------------------------------------ pilots
async def test_overview_sorts_agents_by_status_and_shows_counters() -> None:
    fake = town()
    fake.add_agent("cedar", status="starting", status_message="booting")
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and len(agent_rows(app)) == 4, what="agents")
        assert agent_rows(app) == ["toast", "cedar", "maple", "birch"]  # working, starting, idle, failed
        counters = str(app.page("overview").query_one("#counters").render())
        assert "open 1" in counters and "failed 1" in counters and "tokens 1.2k in" in counters
        assert "merged today 0" in counters and "1/4 agents working" in counters
        fake.emit("ag-maple", "agent_status", old="idle", new="working", meta={"agent": "maple"})
        fake.emit("ag-maple", "agent_status_message", new="writing div", meta={"agent": "maple"})
        await until(pilot, lambda: agent_rows(app)[:2] == ["maple", "toast"], what="maple first")
        assert app.state.agents["maple"]["status_message"] == "writing div"


async def test_pages_switch_from_the_keyboard_with_visible_bindings() -> None:
    app = make_app(town())
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        shown = {key for key, b in app.screen.active_bindings.items() if b.binding.show}
        assert {"question_mark", "space", "q"} <= shown  # the footer: help, actions, quit
        nav = str(app.screen.query_one("#nav").render())  # the pages, on their own line
        for label in ("o overview", "b board", "m merge queue", "c convoys", "e escalations", "i inbox", "y mayor"):
            assert label in nav
        for key, name in (("b", "BoardScreen"), ("m", "MergeQueueScreen"), ("o", "OverviewScreen")):
            await pilot.press(key)
            await until(pilot, lambda: type(app.screen).__name__ == name, what=name)


async def test_board_filters_by_rig_type_and_text() -> None:
    app = make_app(town(40), start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        assert "gt-d4" in ids(app, "closed") and "gt-mr1" not in ids(app, "failed")  # issues only
        await pilot.press("g")  # next rig: app
        await until(pilot, lambda: app.state.board.filter.rig == "app" and "gt-d4" not in ids(app, "closed"),
                    what="rig filter")
        assert all(r["rig"] == "app" for s in STATUSES for r in column(app, s).rows)
        await pilot.press("g", "g")  # web, then all rigs again
        await until(pilot, lambda: app.state.board.filter.rig is None and "gt-d4" in ids(app, "closed"),
                    what="all rigs")
        await pilot.press("t")  # next type: merge requests
        await until(pilot, lambda: ids(app, "failed") == ["gt-mr1"], what="type filter")
        await pilot.press(*(["t"] * 6))  # round the types back to "all types"
        await until(pilot, lambda: app.state.board.filter.type is None and "gt-x9" in ids(app, "open"), what="all")
        await pilot.press("slash", *"bead 1", "enter")
        await until(pilot, lambda: ids(app, "in_progress") == ["gt-00011", "gt-00016"] or
                    set(ids(app, "in_progress")) == {"gt-00001", "gt-00011", "gt-00016"}, what="text filter")
        assert all("bead 1" in r["title"] for s in STATUSES for r in column(app, s).rows)
        assert isinstance(app.focused, BeadList)
        await pilot.press("escape")
        await until(pilot, lambda: "gt-a1" in ids(app, "in_progress"), what="text cleared")


async def test_mouse_filters_selects_and_opens() -> None:
    app = make_app(town(20), start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "in_review"), what="board")
        await pilot.click("#col-in_review", offset=(3, 2))  # the second card (two lines each)
        assert column(app, "in_review").cursor == 1 and app.focused is column(app, "in_review")
        await pilot.click("#rig")  # the rig chip cycles: app
        await until(pilot, lambda: app.state.board.filter.rig == "app" and ids(app, "in_review")[:1] == ["gt-c3"],
                    what="clicked rig")
        await pilot.click("#col-in_review", offset=(3, 0), times=2)  # double click opens
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.key == "gt-c3", what="drawer")
        await pilot.click(offset=(1, 10))  # outside the drawer closes it
        await until(pilot, lambda: type(app.screen).__name__ == "BoardScreen", what="closed by click")


async def test_drawers_stack_from_bead_to_agent_to_merge_request_and_pop() -> None:
    app = make_app(town(), start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "in_review"), what="board")
        await pilot.press("right", "right", "enter")  # the in-review column: gt-c3
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.mr == "gt-mr1", what="bead")
        drawer = app.screen
        assert isinstance(drawer, BeadDrawer) and drawer.key == "gt-c3" and drawer.agent == "maple"
        text = str(app.screen.query_one("#branch").render())
        assert "gt/maple/gt-c3" in text and "abc123" in text
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer) and app.screen.agent, what="agent")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer), what="back to the bead")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MergeRequestDrawer) and app.screen.mr, what="mr")
        assert app.screen.query_one("#banner").display  # the failed gate's banner
        assert "gate_failed" in str(app.screen.query_one("#banner").render())
        await pilot.press("s")  # its source bead, stacked again
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and len(app.screen_stack) == 5, what="src")
        await pilot.press("escape", "escape", "escape")
        await until(pilot, lambda: type(app.screen).__name__ == "BoardScreen", what="board again")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer), what="drawer")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer), what="agent drawer")
        await pilot.press("o")  # a page key closes every drawer
        await until(pilot, lambda: type(app.screen).__name__ == "OverviewScreen" and len(app.screen_stack) == 2,
                    what="overview")


async def test_failed_bead_shows_its_failure_banner() -> None:
    app = make_app(town(), start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "failed"), what="board")
        await pilot.press("left", "enter")  # wraps to the failed column
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.query_one("#banner").display,
                    what="banner")
        assert "dispatch_exhausted" in str(app.screen.query_one("#banner").render())


async def test_agent_terminal_shows_fed_output_and_follows() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and agent_rows(app), what="agents")
        app.page("overview").query_one("#agents").focus()
        await pilot.press("enter")  # toast, the working agent, is first
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer), what="drawer")
        term = app.screen.query_one(Terminal)
        await until(pilot, lambda: "hello from toast" in term.text(), what="output")
        row = next(y for y, line in enumerate(term.vt.display) if "hello" in line)
        assert term.vt.buffer[row][0].fg == "green"  # colours survive
        fake.logs["toast"] += "step 2 ok\r\n"
        await until(pilot, lambda: "step 2 ok" in term.text(), what="appended output")
        await pilot.press("v")  # the raw terminal (the readable transcript is the default)
        assert term.display
        term.focus()
        await pilot.press("pageup")
        assert not term.follow
        fake.logs["toast"] += "step 3 held\r\n"
        await until(pilot, lambda: term.held, what="held while scrolled back")
        assert "step 3" not in term.text()
        await pilot.press("f")
        await until(pilot, lambda: "step 3 held" in term.text(), what="follow again")


async def test_agent_drawer_shows_the_readable_transcript_and_follows_it() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and agent_rows(app), what="agents")
        app.page("overview").query_one("#agents").focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer), what="drawer")
        drawer = app.screen
        text = drawer.query_one("#transcript-text")
        await until(pilot, lambda: "▶ bash  python3 -m pytest -q  → exit 0" in widget_text(text), what="transcript")
        assert "I will add mul" in widget_text(text) and not drawer.query_one(Terminal).display
        fake.transcripts["toast"].append({"kind": "text", "text": "All green, handing over."})
        await until(pilot, lambda: "All green" in widget_text(text), what="followed")
        await pilot.press("v")
        assert drawer.query_one(Terminal).display and not drawer.query_one("#transcript").display
        await pilot.press("v")
        assert not drawer.query_one(Terminal).display


async def test_bead_drawer_shows_the_branch_diff_and_commits() -> None:
    app = make_app(town(), start="board")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "in_review"), what="board")
        await pilot.press("right", "right", "enter")  # gt-c3, which has a branch
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.mr, what="drawer")
        commits = str(app.screen.query_one("#commits").render())
        assert "1 commit" in commits and "abc123def4" in commits and "add div" in commits
        assert "1 file changed" in commits and "gt/maple/gt-c3 against main" in commits
        diff = app.screen.query_one("#diff")
        painted = widget_text(diff)
        assert diff.display and "+def div(a, b):" in painted and "@@ -1,2 +1,5 @@" in painted
        await pilot.press("escape", "left", "left", "enter")  # gt-b2 in the open column: no branch
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.key == "gt-b2" and
                    "no branch yet" in str(app.screen.query_one("#commits").render()), what="no branch")
        assert not app.screen.query_one("#diff").display


async def test_typing_into_the_agent_terminal() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and agent_rows(app), what="agents")
        app.page("overview").query_one("#agents").focus()
        await pilot.press("enter")  # toast, whose turn runs
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer) and app.screen.running, what="running")
        term = app.screen.query_one(Terminal)
        assert "t" in {k for k, b in app.screen.active_bindings.items() if b.binding.show}
        await pilot.press("t")
        assert term.typing and app.focused is term and "typing into toast" in str(term.border_title)
        assert any(b.binding.action == "leave" for b in app.screen.active_bindings.values())
        await pilot.press("l", "s", "space", "q", "enter", "ctrl+c")  # q and the rest go to the agent
        await pilot.press("ctrl+right_square_bracket")
        assert not term.typing and term.border_title is None
        await until(pilot, lambda: "".join(d for _, d in fake.inputs) == "ls q\r\x03", what="keys sent")
        assert {n for n, _ in fake.inputs} == {"toast"} and isinstance(app.screen, AgentDrawer)
        await pilot.press("f")  # a terminal key again, not typed
        assert not term.follow and "".join(d for _, d in fake.inputs) == "ls q\r\x03"


async def test_convoys_page_drawer_and_board_chip() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.state.convoys, what="convoys")
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "ConvoysScreen", what="convoys page")
        from textual.widgets import DataTable, OptionList

        table = app.screen.query_one("#convoys", DataTable)
        await until(pilot, lambda: table.row_count == 1, what="a row")
        assert "0/3" in str(table.get_cell("gt-cv1", "progress")) and "█" in str(table.get_cell("gt-cv1", "progress"))
        fake.move("gt-c3", "closed")  # a member lands: the progress bar follows
        await until(pilot, lambda: "1/3" in str(table.get_cell("gt-cv1", "progress")), what="progress")
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "ConvoyDrawer" and
                    app.screen.query_one("#members", OptionList).option_count == 3, what="convoy drawer")
        members = app.screen.query_one("#members", OptionList)
        members.focus()
        members.highlighted = 1
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.key == "gt-b2", what="member")
        assert len(app.screen_stack) == 4  # the page, the convoy, its member
        await pilot.press("b")
        await until(pilot, lambda: loaded(app) and ids(app, "closed"), what="board")
        await pilot.press("v")  # the convoy chip
        await until(pilot, lambda: app.state.board.filter.convoy == "gt-cv1" and "gt-d4" not in ids(app, "closed"),
                    what="convoy filter")
        assert ids(app, "open") == ["gt-b2"] and ids(app, "closed") == ["gt-c3"]
        assert "convoy: gt-cv1" in str(app.screen.query_one("#convoy").render())


async def test_escalations_page_acknowledges_and_the_header_counts() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and "1 escalation" in app.sub_title, what="count in the header")
        assert not app.has_class("-escalated")  # medium only
        fake.escalations["gt-x7"] = {"id": "gt-x7", "severity": "critical", "title": "main is broken", "body": "",
                                     "category": "ci", "acknowledged": False, "reescalation_count": 1,
                                     "created_at": stamp(5)}
        fake.emit("gt-x7", "escalated", new="critical")
        await until(pilot, lambda: "2 escalations" in app.sub_title and app.has_class("-escalated"), what="critical")
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "EscalationsScreen", what="page")
        from textual.widgets import DataTable

        table = app.screen.query_one("#esc-table", DataTable)
        await until(pilot, lambda: table.row_count == 3, what="rows")
        order = [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(3)]
        assert order == ["gt-x7", "gt-x9", "gt-x8"]  # severity first, acknowledged last
        table.focus()
        await pilot.press("a")
        await until(pilot, lambda: fake.escalations["gt-x7"]["acknowledged"], what="acked")
        await until(pilot, lambda: not app.has_class("-escalated") and "1 escalation " in app.sub_title,
                    what="header after the ack")


async def test_bead_drawer_approves_a_molecule_approval_step() -> None:
    fake = town()
    fake.add_bead("gt-ap1", "a human approves the notes", metadata={"step": "approve", "step_kind": "approval",
                                                                     "molecule": "gt-mo1", "worker": "human"})
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app), what="board")
        app.post_message(m.OpenBead("gt-b2"))
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.key == "gt-b2", what="drawer")
        await pilot.press("p")  # not an approval step: nothing is sent
        app.post_message(m.OpenBead("gt-ap1"))
        await until(pilot, lambda: isinstance(app.screen, BeadDrawer) and app.screen.approvable, what="approvable")
        assert "press p to approve" in str(app.screen.query_one("#fields").render())
        await pilot.press("p")
        await until(pilot, lambda: fake.beads["gt-ap1"]["status"] == "closed", what="approved")
        assert fake.beads["gt-b2"]["status"] == "open"
        await until(pilot, lambda: not cast(BeadDrawer, app.screen).approvable, what="drawer reloaded")


async def test_mail_inbox_reads_a_message() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.state.mail, what="mail")
        await pilot.press("i")
        await until(pilot, lambda: type(app.screen).__name__ == "MailScreen", what="inbox")
        from textual.widgets import DataTable

        table = app.screen.query_one("#mail", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="rows")
        assert "1 unread" in str(app.screen.query_one("#mail-title").render())
        table.focus()
        await pilot.press("enter")  # the newest: maple's
        await until(pilot, lambda: type(app.screen).__name__ == "MailDrawer" and
                    fake.mail["gt-m9"]["status"] == "closed", what="read")
        await until(pilot, lambda: "The div is in review." in widget_text(app.screen.query_one("#mail-body")),
                    what="body")
        await pilot.press("escape")
        await until(pilot, lambda: "0 unread" in str(app.page("mail").query_one("#mail-title").render()),
                    what="marked read")


async def test_mayor_chat_shows_both_sides_streams_tools_and_queues() -> None:
    fake = town()
    fake.mayor["hold"] = True  # the Mayor keeps working until the test lets it answer
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="loaded")
        column(app, "open").focus()  # the selection travels with the message
        await pilot.press("y")
        await until(pilot, lambda: type(app.screen).__name__ == "ChatScreen", what="chat")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await until(pilot, lambda: "alice: How many rigs are there?" in chat.log_text(), what="a CLI question")
        assert "mayor: Yes, **two** rigs." in chat.log_text()
        assert "looking at bead gt-b2" in str(chat.query_one("#chat-context").render())
        await pilot.press(*"what is next?", "enter")
        await until(pilot, lambda: fake.mayor["sent"] == ["what is next?"], what="sent")
        assert fake.mayor["contexts"] == ["bead gt-b2 (add sub)"]
        await pilot.press(*"and then?", "enter")  # the Mayor is busy: this one waits its turn
        await until(pilot, lambda: "queued" in widget_text(chat.query_one("#chat-log")), what="queued shown")
        assert "mayor is working" in widget_text(chat.query_one("#chat-log"))  # the spinner line
        fake.mayor["hold"] = False
        await until(pilot, lambda: fake.mayor["sent"] == ["what is next?", "and then?"], what="the queue drained")
        await until(pilot, lambda: chat.log_text().count("mayor: Hello from the mayor.") == 2, what="both answers")
        await until(pilot, lambda: [r["who"] for r in chat.rows] == ["alice", "mayor", "human", "mayor", "human", "mayor"],
                    what="the session's messages replaced by the daemon's history, nothing twice")
        replies = [c for c in app.state.chat if c["role"] == "mayor"]
        assert replies and all("▶ bash  gt bead list" in c["tools"][0] for c in replies)


async def test_mayor_busy_with_someone_else_waits_then_sends() -> None:
    fake = town()
    fake.mayor["done"] = False  # answering a question asked from the CLI
    app = make_app(fake, start="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        await until(pilot, lambda: isinstance(app.focused, Input), what="input")
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: app.state.chat[0].get("status") == "waiting", what="waiting")
        assert "answering someone else" in widget_text(app.screen.query_one("#chat-log"))
        fake.mayor["done"] = True
        await until(pilot, lambda: fake.mayor["sent"] == ["hello"], what="sent once free")
        await until(pilot, lambda: cast(ChatScreen, app.screen).log_text().endswith("mayor: Hello from the mayor."), what="answer")


async def test_activity_panes_start_with_the_towns_recent_history() -> None:
    fake = town()
    fake.emit("gt-b2", "status_changed", new="in_progress")
    fake.emit("ag-maple", "agent_status_message", new="reading the code", meta={"agent": "maple"})
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and any("reading the code" in ln for ln in app.state.feed),
                    what="history in the feed")
        fake.emit("ag-maple", "agent_status_message", new="writing div", meta={"agent": "maple"})
        await until(pilot, lambda: any("writing div" in ln for ln in app.state.feed), what="then live")
        lines = list(app.state.feed)
        assert sum("reading the code" in ln for ln in lines) == 1  # history is not replayed live
        assert [i for i, ln in enumerate(lines) if "reading the code" in ln or "writing div" in ln] == sorted(
            i for i, ln in enumerate(lines) if "reading the code" in ln or "writing div" in ln)
        await until(pilot, lambda: "reading the code" in widget_text(app.page("overview").query_one("#feed")),
                    what="history drawn in the overview's feed")


async def test_events_move_beads_across_columns() -> None:
    fake = town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and "gt-b2" in ids(app, "open"), what="board")
        fake.move("gt-b2", "in_progress")
        await until(pilot, lambda: "gt-b2" in ids(app, "in_progress") and "gt-b2" not in ids(app, "open"),
                    what="in progress")
        await until(pilot, lambda: head(app, "in_progress") == "in progress (2)", what="count from the daemon")
        fake.move("gt-b2", "in_review")
        fake.move("gt-b2", "closed")
        await until(pilot, lambda: ids(app, "closed")[:1] == ["gt-b2"], what="closed, newest first")
        assert "gt-b2" not in ids(app, "in_review")
        await until(pilot, lambda: head(app, "open") == "open (0)" and head(app, "closed") == "closed (2)", what="counts")
        fake.add_bead("gt-new", "brand new work", emit=True)
        await until(pilot, lambda: "gt-new" in ids(app, "open"), what="created bead")
        await until(pilot, lambda: app.state.board.rows["gt-new"].get("rig") == "app", what="fetched in full")


async def test_survives_a_daemon_restart_and_replays_what_it_missed() -> None:
    fake = town()
    app = make_app(fake, start="board")
    notes: list[str] = []
    async with app.run_test(size=(120, 36)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await until(pilot, lambda: loaded(app), what="board")
        fake.down = True
        await until(pilot, lambda: not app.connected, what="disconnect noticed")
        assert "reconnecting" in app.sub_title and any("Lost the daemon" in n for n in notes)
        await pilot.press("m", "b")  # still responsive while the daemon is away
        fake.down = False
        with fake.cond:  # happened while we were away: replayed from `since`
            fake.down = True
        fake.down = False
        fake.move("gt-b2", "in_progress")
        await until(pilot, lambda: app.connected and "gt-b2" in ids(app, "in_progress"), 10, what="reconnected")
        assert any("Reconnected" in n for n in notes) and fake.subscriptions >= 2


# ------------------------------------------------------------------ scale
# Functional checks only: the time budgets (10,000 beads painted in under a second, keys
# under 1,000 events/s) are measured by bench/bench_tui.py, never asserted here.
async def test_ten_thousand_bead_board_opens_windowed_and_loads_more() -> None:
    fake = town(10_000)
    app = make_app(fake)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: loaded(app), 10, what="loaded")
        await pilot.press("b")
        await until(pilot, lambda: filled(app), 10, what="the columns")
        assert head(app, "open") == "open (300/2,001)"  # a window, with the real count
        assert len(column(app, "open").rows) == 300
        column(app, "open").focus()
        await pilot.press("end")  # the end of a truncated column loads more
        await until(pilot, lambda: len(column(app, "open").rows) == 600, 5, what="load more")


async def test_keys_keep_working_while_events_flood_in() -> None:
    fake = town(2_000)
    app = make_app(fake, start="board")
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), 10, what="board")
        beads = [f"gt-{i:05d}" for i in range(2000)]
        cycle = STATUSES[1:] + STATUSES[:1]  # every column keeps a few hundred beads
        stop = threading.Event()
        sent = [0]

        def produce() -> None:  # as fast as the fake takes them, in bursts of 100
            while not stop.is_set() and sent[0] < 20_000:
                for _ in range(100):
                    fake.move(beads[(sent[0] * 7) % len(beads)], cycle[sent[0] % 5])
                    sent[0] += 1
                stop.wait(0.001)

        producer = threading.Thread(target=produce, daemon=True)
        column(app, "open").focus()
        producer.start()
        try:
            for i in range(20):
                col = app.focused
                assert isinstance(col, BeadList)
                before = col.current_id
                app.simulate_key("down" if i % 4 else "right")
                await until(pilot, lambda: app.focused is not col or col.current_id != before, 10, what="key handled")
        finally:
            stop.set()
            producer.join()
        await until(pilot, lambda: app.state.events_seen >= sent[0], 20, what="all events applied")
        assert app.batches < sent[0]  # events were applied in batches, not one redraw each
        await until(pilot, lambda: all(fake.beads[b]["status"] == s for s in STATUSES for b in ids(app, s)),
                    10, what="the board to agree with the daemon")


# ------------------------------------------------------------------ plumbing
def test_gt_tui_imports_textual_only_when_run() -> None:
    import json
    import subprocess
    import sys

    probe = "import gastown.cli.tui, sys, json; print(json.dumps(sorted(sys.modules)))"
    mods = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                     check=True).stdout)
    assert not [m for m in mods if m.split(".")[0] == "textual" or m.startswith("gastown.tui")]


def test_remote_reconnects_after_the_daemon_went_away() -> None:
    from gastown.tui.remote import Remote

    opened: list[FakeClient] = []

    def connect(timeout: float | None) -> FakeClient:
        opened.append(town())
        return opened[-1]

    first = town()
    remote = Remote(first, connect)
    assert remote.call(Method.TOWN_SHOW)["name"] == "t"
    first.down = True
    with pytest.raises(RpcError):
        remote.call(Method.TOWN_SHOW)
    assert remote.call(Method.TOWN_SHOW)["name"] == "t" and len(opened) == 1  # a fresh connection
    stream = remote.open_stream()
    assert stream is opened[-1] and len(opened) == 2  # the event stream has its own
    remote.close()
    assert stream.closed and opened[0].closed
    with pytest.raises(RpcError):
        remote.call(Method.TOWN_SHOW)


# ------------------------------------------------------------------ snapshots
def _snap(request: pytest.FixtureRequest) -> Any:
    if not request.config.pluginmanager.hasplugin("textual-snapshot"):
        pytest.skip("pytest-textual-snapshot is not installed")
    return request.getfixturevalue("snap_compare")


SCREENS = {  # name: (start page, keys pressed once loaded)
    "overview": ("overview", []), "board": ("board", []), "mq": ("mq", []), "convoys": ("convoys", []),
    "escalations": ("escalations", []), "inbox": ("mail", []), "mayor": ("chat", []),
    "bead-drawer": ("board", ["right", "right", "enter"]), "agent-drawer": ("overview", ["enter"]),
    "agent-raw": ("overview", ["enter", "v"]),
    "help": ("board", ["question_mark"]), "sling-form": ("board", ["S"]), "action-menu": ("board", ["space"]),
    "costs": ("board", ["dollar_sign"]),
}


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("name", list(SCREENS))
def test_snapshot(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, name: str,
                  size: tuple[int, int]) -> None:
    from gastown.tui.screens import fmt

    snap_compare = _snap(request)
    monkeypatch.setattr(fmt, "NOW", [T0 + timedelta(hours=3)])  # card ages do not drift
    page, keys = SCREENS[name]
    app = make_app(town(), start=page)

    async def settle(pilot: Any) -> None:
        await until(pilot, lambda: loaded(app) and app.state.mrs and app.state.agents and app.state.convoys
                    and app.state.mail and app.history_loaded, what="loaded")
        await until(pilot, lambda: not app.flush_due, what="what loaded drawn (the history in the activity panes)")
        if page == "overview":
            await until(pilot, lambda: agent_rows(app), what="agents")
        if page == "board" and keys:  # forms and menus are filled from the selected card (the first open one)
            await until(pilot, lambda: app.state.town and getattr(app.screen.subject(), "id", None) == "gt-b2",  # type: ignore[attr-defined]
                        what="the first open card selected")
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.3)
        if isinstance(drawer := app.screen, BeadDrawer):
            await until(pilot, lambda: drawer.mr, what="drawer")
        for field in app.screen.query("Input"):
            field.cursor_blink = False  # type: ignore[attr-defined]  # a blinking cursor is not deterministic
        if isinstance(agent_drawer := app.screen, AgentDrawer):
            await until(pilot, lambda: "step 1 ok" in agent_drawer.query_one(Terminal).text(), what="terminal")
            await until(pilot, lambda: len(agent_drawer.events) == 3, what="transcript")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_costs_page_shows_gauges_budgets_and_spend() -> None:
    from textual.widgets import DataTable, Sparkline, Static

    app = make_app(town(), start="board")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        await pilot.press("dollar_sign")
        await until(pilot, lambda: app.state.stats is not None, what="stats")
        await pilot.pause(0.1)
        screen = app.screen
        gauges = str(screen.query_one("#gauges", Static).render())
        assert "6 (0.25/h)" in gauges and "83%" in gauges and "5.2m median" in gauges and "$3.60" in gauges
        assert screen.query_one("#spark-ready", Sparkline).data == [0.0, 1.0, 3.0, 2.0, 2.0]
        budgets = screen.query_one("#budgets", DataTable)
        assert budgets.row_count == 1 and "exhausted" in str(budgets.get_row("rig:app"))
        assert screen.query_one("#models", DataTable).get_row("fake-model")[4] == "$1.20"
