"""Chat with the Mayor: the whole conversation (messages from the CLI too), then this
session's queued and streaming entries. While the Mayor works a spinner turns and its tool
calls show as they happen; the answer is rendered as Markdown when done. The line above the
input says what travels with the next message (the selection on the page you came from).
Esc leaves the input (page keys work again); Enter or / goes back in."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Input, Static

from gastown.tui import messages as m
from gastown.tui.screens.page import Page
from gastown.tui.state import Changes, TownState
from gastown.tui.widgets.nav import NavBar
from gastown.tui.widgets.footer import KeyFooter

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPIN_S = 0.15
STATUS_NOTE = {"queued": "queued: sent when the Mayor is free", "sending": "sending…",
               "waiting": "waiting: the Mayor is answering someone else", "failed": "not sent"}
Key = tuple[Any, ...]


def entry(row: dict[str, Any], frame: int = 0) -> Any:
    who, text, role = row.get("who") or row["role"], str(row.get("text") or ""), row["role"]
    if row.get("error"):
        return Text(f"{who}: {row['error']}", style="bold red")
    if role == "human":
        out = Text(f"{who}: {text}", style="bold cyan")
        if row.get("context"):
            out.append(f"\n  (looking at {row['context']})", style="dim")
        note = STATUS_NOTE.get(str(row.get("status") or ""))
        if note:
            out.append(f"\n  {note}", style="italic yellow")
        return out
    if not row.get("done", True):
        head = Text(f"{SPINNER[frame % len(SPINNER)]} mayor is working…", style="italic")
        tools = [Text(f"  {line}", style="dim") for line in row.get("tools") or []]
        body = [Text(f"mayor: {text}▌", style="italic")] if text else []
        return Group(head, *tools, *body)
    return Group(Text("mayor:", style="bold magenta"), Markdown(text or "(no reply)"))


def key_of(row: dict[str, Any]) -> Key:
    return (row["role"], row.get("who"), row.get("text"), row.get("done", True), row.get("error"),
            row.get("status"), tuple(row.get("tools") or ()), row.get("context"))


class ChatScreen(Page):
    BINDINGS = [Binding("escape", "leave", "leave input"), Binding("enter", "type", "type", show=False),
                Binding("slash", "type", "type", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[Key] = []
        self.rows: list[dict[str, Any]] = []
        self.frame = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("chat")
        yield Static("Mayor", classes="section")
        yield VerticalScroll(id="chat-log")
        yield Static("", id="chat-context")
        yield Input(placeholder="message the mayor (Enter sends, Esc leaves)", id="chat-input")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_interval(SPIN_S, self.spin)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.query_one("#chat-input", Input).focus()
        self.show_context()

    def show_context(self) -> None:
        subject = getattr(self.app, "looking_at", None)
        text = f"with your message: you are looking at {subject.describe()}" if subject else \
            "select a bead, agent, convoy or merge request first and it travels with your message"
        self.query_one("#chat-context", Static).update(Text(text, style="dim"))

    def spin(self) -> None:
        """Turn the spinner of the entry the Mayor is working on (only that widget repaints)."""
        if not self.is_current:
            return
        log = self.query_one("#chat-log", VerticalScroll)
        for child, row in zip(log.children, self.rows):
            if not row.get("done", True) and not row.get("error"):
                self.frame += 1
                if isinstance(child, Static):
                    child.update(entry(row, self.frame))

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and not {"chat", "mail"} & changes.pages:
            return
        rows = state.chat_view()
        want = [key_of(r) for r in rows]
        log = self.query_one("#chat-log", VerticalScroll)
        keep = 0  # entries drawn already stay; only the changed tail is redrawn
        while keep < min(len(want), len(self.drawn)) and want[keep] == self.drawn[keep]:
            keep += 1
        for child in list(log.children)[keep:]:
            child.remove()
        new = [Static(entry(r, self.frame), classes=f"chat-{r['role']}") for r in rows[keep:]]
        if new:
            log.mount_all(new)
            log.scroll_end(animate=False)
        self.drawn, self.rows = want, rows

    def action_leave(self) -> None:
        """Esc: out of the input, so the page keys work again (Enter or / goes back in)."""
        self.query_one("#chat-log", VerticalScroll).focus()

    def action_type(self) -> None:
        self.query_one("#chat-input", Input).focus()

    @on(Input.Submitted, "#chat-input")
    def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            event.input.value = ""
            self.post_message(m.MayorSend(text))

    def log_text(self) -> str:
        """The conversation as plain text (tests)."""
        return "\n".join(f"{r.get('who')}: {r.get('text')}" for r in self.rows)
