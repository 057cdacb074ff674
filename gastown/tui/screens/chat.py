"""Chat with the mayor: the archived replies, then this session's messages; the answer
streams in as the app's worker polls `mayor.reply`, and is rendered as Markdown when done."""

from __future__ import annotations

from typing import Any

from rich.markdown import Markdown
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from gastown.tui import messages as m
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import Changes, TownState


def entry(role: str, text: str, done: bool = True, error: str | None = None) -> Any:
    if error:
        return Text(f"{role}: {error}", style="bold red")
    if role == "human":
        return Text(f"you: {text}", style="bold cyan")
    if not done:
        return Text(f"mayor: {text}▌" if text else "mayor is thinking…", style="italic")
    return Markdown(text or "(no reply)")


class ChatScreen(Page):
    BINDINGS = [Binding("escape", "leave", "leave input"), Binding("enter", "type", "type", show=False),
                Binding("slash", "type", "type", show=False)]
    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[tuple[str, str, bool, str | None]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("chat")
        yield Static("Mayor", classes="section")
        yield VerticalScroll(id="chat-log")
        yield Input(placeholder="message the mayor (Enter sends)", id="chat-input")
        yield Footer()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.query_one("#chat-input", Input).focus()

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and not {"chat", "mail"} & changes.pages:
            return
        want: list[tuple[str, str, bool, str | None]] = [
            ("mayor", str(r.get("body") or r.get("title") or ""), True, None) for r in state.chat_history()]
        want += [(c["role"], str(c.get("text") or ""), bool(c.get("done", True)), c.get("error")) for c in state.chat]
        log = self.query_one("#chat-log", VerticalScroll)
        keep = 0  # entries drawn already stay; only the changed tail is redrawn
        while keep < min(len(want), len(self.drawn)) and want[keep] == self.drawn[keep]:
            keep += 1
        children = list(log.children)
        for child in children[keep:]:
            child.remove()
        new = [Static(entry(*e), classes=f"chat-{e[0]}") for e in want[keep:]]
        if new:
            log.mount_all(new)
            log.scroll_end(animate=False)
        self.drawn = want

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
        return "\n".join(f"{role}: {text}" for role, text, _, _ in self.drawn)
