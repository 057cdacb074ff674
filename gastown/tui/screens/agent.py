"""The agent drawer: the agent's fields, then its current turn as a readable transcript
(`agent.transcript`: the assistant's words, `▶ tool  args → exit`, errors) followed live;
`v` toggles to the raw terminal, fed by polling `agent.logs` with offsets (the tail first,
then only what is new). `t` types into the running turn (switching to the terminal): its
keys go through one sender worker as `agent.input`."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from gastown import transcript as tr
from gastown.protocol import Method
from gastown.tui import messages as m
from gastown.tui.actions import Subject
from gastown.tui.screens import fmt
from gastown.tui.screens.drawers import Drawer
from gastown.tui.widgets.terminal import Terminal

TAIL = -65536
"""A new turn's output starts from its last 64 KiB."""
POLL_S = (0.25, 1.5)
"""Log polling: while output flows or the turn runs, and when it is idle."""


TRANSCRIPT_LINES = 2000
"""The most transcript lines the drawer keeps on screen (the start is in `gt agent logs`)."""


@dataclass
class TranscriptChunk(Message, bubble=False):
    events: list[dict[str, Any]]
    reset: bool = False
    running: bool | None = None
    turn: str = ""
    error: str | None = None


@dataclass
class LogChunk(Message, bubble=False):
    data: str
    reset: bool = False
    running: bool | None = None


class AgentDrawer(Drawer):
    BINDINGS = [Binding("h", "hook", "hooked bead"), Binding("v", "toggle_view", "raw/transcript"),
                Binding("t", "type", "type into")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.key = name
        self.agent: dict[str, Any] = {}
        self.running = False
        self.keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.sending = False
        self.events: list[tr.Event] = []

    def body(self) -> ComposeResult:
        yield Static(id="fields")
        with VerticalScroll(id="transcript"):
            yield Static(Text("(loading the transcript…)", style="dim"), id="transcript-text")
        term = Terminal(id="term")
        term.target = self.key
        term.display = False
        yield term

    def on_mount(self) -> None:
        super().on_mount()
        self.poll_logs()
        self.poll_transcript()

    # ------------------------------------------------------------ transcript
    @property
    def raw(self) -> bool:
        return bool(self.query_one(Terminal).display)

    def action_toggle_view(self) -> None:
        """Readable transcript ⇄ raw terminal."""
        raw = not self.raw
        self.query_one(Terminal).display = raw
        self.query_one("#transcript", VerticalScroll).display = not raw
        if not raw:
            self.query_one(Terminal).typing = False

    @work(thread=True, exclusive=True, group="transcript", exit_on_error=False)
    def poll_transcript(self) -> None:
        """Page through the turn's events, then follow new ones (a new turn starts over)."""
        worker = get_current_worker()
        call = self.app.remote.call  # type: ignore[attr-defined]
        offset, turn = 0, None
        while not worker.is_cancelled:
            delay = POLL_S[1]
            try:
                res = call(Method.AGENT_TRANSCRIPT, name=self.key, offset=offset)
            except Exception as exc:
                self.post_message(TranscriptChunk([], error=getattr(exc, "message", None) or str(exc)))
                worker.cancelled_event.wait(POLL_S[1])
                continue
            if res.get("turn") != turn or offset == 0 and turn is None:
                restart = offset != 0
                turn, offset = res.get("turn"), 0
                self.post_message(TranscriptChunk([], reset=True, turn=str(turn or "")))
                if restart:
                    continue  # a new turn: read it from its start
            events = res.get("events") or []
            offset = int(res.get("offset") or offset)
            if events:
                self.post_message(TranscriptChunk(events, running=bool(res.get("running"))))
            if events or res.get("running"):
                delay = POLL_S[0]
            if offset < int(res.get("total") or 0):
                continue  # more pages now
            worker.cancelled_event.wait(delay)

    def on_transcript_chunk(self, msg: TranscriptChunk) -> None:
        if msg.reset:
            self.events = []
        self.events.extend(tr.from_dicts(msg.events))
        text = self.query_one("#transcript-text", Static)
        if msg.error:
            text.update(Text(f"no transcript: {msg.error} (v shows the raw terminal)", style="dim"))
            return
        if not self.events:
            text.update(Text("(no turn yet)" if msg.reset else "(nothing yet)", style="dim"))
            return
        lines = list(tr.render(self.events))[-TRANSCRIPT_LINES:]
        text.update(Text("\n".join(lines)))
        box = self.query_one("#transcript", VerticalScroll)
        box.scroll_end(animate=False)

    def fetch(self, call: Any) -> dict[str, Any]:
        return {"agent": call(Method.AGENT_SHOW, name=self.key)}

    def subject(self) -> Subject | None:
        return Subject("agent", self.key, self.agent)

    def show(self, data: dict[str, Any]) -> None:
        a = self.agent = data["agent"]
        head = Text(f"{a['name']}  ", style="bold")
        head.append_text(fmt.status(a.get("status")))
        head.append(f"  {a.get('role', '')} on {a.get('rig') or 'town'} ({a.get('adapter', '')})")
        self.query_one("#head", Static).update(head)
        hook = a.get("hook") or {}
        turn = a.get("turn") or {}
        self.query_one("#fields", Static).update(fmt.fields([
            ("message", a.get("status_message")), ("hook", f"{hook['id']}  {hook.get('title', '')}" if hook else None),
            ("last bead", a.get("last_bead_id") if not hook else None), ("branch", a.get("branch")),
            ("worktree", a.get("worktree")), ("session", a.get("session_id")),
            ("tokens", f"{fmt.human(int(a.get('tokens_in') or 0))} in · {fmt.human(int(a.get('tokens_out') or 0))} out"),
            ("turns", a.get("turns")), ("turn", turn.get("state")), ("started", a.get("turn_started_at")),
            ("ended", a.get("turn_ended_at")),
        ]))

    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def poll_logs(self) -> None:
        worker = get_current_worker()
        call = self.app.remote.call  # type: ignore[attr-defined]
        offset, turn, running = TAIL, None, None
        while not worker.is_cancelled:
            delay = POLL_S[1]
            try:
                res = call(Method.AGENT_LOGS, name=self.key, offset=offset)
            except Exception:
                res = None
            if res is not None:
                if res.get("turn_dir") != turn and offset != TAIL:
                    turn, offset = res.get("turn_dir"), TAIL  # a new turn: start again from its tail
                    self.post_message(LogChunk("", reset=True))
                    continue
                turn, offset = res.get("turn_dir"), int(res.get("offset") or 0)
                data = res.get("data") or ""
                if data or bool(res.get("running")) != running:
                    running = bool(res.get("running"))
                    self.post_message(LogChunk(data, running=running))
                if data or res.get("running"):
                    delay = POLL_S[0]
            worker.cancelled_event.wait(delay)

    def on_log_chunk(self, msg: LogChunk) -> None:
        term = self.query_one(Terminal)
        if msg.reset:
            term.clear()
        term.feed(msg.data)
        if msg.running is not None:
            self.running = msg.running
            if not msg.running and term.typing:
                term.typing = False
                self.notify("the turn ended: no longer typing into it", timeout=3)

    # ---------------------------------------------------------------- typing
    def action_type(self) -> None:
        if not self.running:
            self.notify(f"{self.key} has no running turn to type into", timeout=2)
            return
        if not self.raw:
            self.action_toggle_view()
        term = self.query_one(Terminal)
        term.focus()
        term.typing = True

    def on_terminal_typed(self, msg: Terminal.Typed) -> None:
        self.keys.put(msg.data)
        if not self.sending:
            self.sending = True
            self.send_keys()

    @work(thread=True, group="input", exit_on_error=False)
    def send_keys(self) -> None:
        """The only sender: keys keep their order, and a burst goes as one call."""
        worker = get_current_worker()
        call = self.app.remote.call  # type: ignore[attr-defined]
        while not worker.is_cancelled:
            try:
                data = [self.keys.get(timeout=0.5)]
            except queue.Empty:
                continue
            while not self.keys.empty():
                data.append(self.keys.get_nowait())
            try:
                call(Method.AGENT_INPUT, name=self.key, data="".join(data))
            except Exception as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.app.call_from_thread(self.notify, f"could not type into {self.key}: {message}",
                                          severity="error", timeout=4)

    def action_hook(self) -> None:
        bead = (self.agent.get("hook") or {}).get("id") or self.agent.get("last_bead_id")
        if bead:
            self.post_message(m.OpenBead(bead))
        else:
            self.notify("nothing on this agent's hook", timeout=2)
