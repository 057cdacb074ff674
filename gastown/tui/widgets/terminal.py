"""A terminal view of an agent's turn: output bytes go through pyte (a VT100 emulator with
scrollback), and the visible page is drawn as a rich Text with its colours.

It is fed: the agent drawer polls `agent.logs` with offsets and calls `feed()`. While
scrolled back (follow off) new output is held and applied on return. In typing mode
(`typing`, set by the drawer) every key becomes the bytes a terminal would send and goes
up in a `Typed` message (the widget holds no socket); Ctrl-] leaves typing mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pyte
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

RAW_KEEP = 1 << 20
"""Output kept to redraw after a resize (the newest megabyte)."""
LEAVE = "ctrl+right_square_bracket"
KEYS = {"enter": "\r", "tab": "\t", "backspace": "\x7f", "escape": "\x1b", "up": "\x1b[A", "down": "\x1b[B",
        "right": "\x1b[C", "left": "\x1b[D", "home": "\x1b[H", "end": "\x1b[F", "delete": "\x1b[3~",
        "shift+tab": "\x1b[Z"}
"""What a terminal sends for the keys that are not characters (a PTY wants CR for Enter)."""


def key_bytes(key: str, character: str | None) -> str | None:
    if key in KEYS:
        return KEYS[key]
    if character and (character.isprintable() or (len(character) == 1 and ord(character) < 32)):
        return character
    return None


@lru_cache(maxsize=512)
def _style(fg: str, bg: str, bold: bool, italics: bool, underscore: bool, reverse: bool) -> Style:
    return Style(color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
                 underline=underscore or None, reverse=reverse or None)


def _color(name: str) -> str | None:
    if name == "default":
        return None
    bright = name.startswith("bright")
    base = name[6:] if bright else name
    base = "yellow" if base == "brown" else base
    if len(base) == 6 and all(c in "0123456789abcdefABCDEF" for c in base):
        return "#" + base
    return f"bright_{base}" if bright else base


class Terminal(Widget, can_focus=True):
    DEFAULT_CSS = """
    Terminal { height: 1fr; background: $surface-darken-1; border: round $panel-lighten-2; }
    Terminal:focus { border: round $accent; }
    Terminal.-typing { border: heavy $success; border-title-color: $success; border-title-style: bold; }
    """
    BINDINGS = [
        Binding("pageup", "page(-1)", "scroll back"),
        Binding("pagedown", "page(1)", "scroll on", show=False),
        Binding("f", "follow", "follow"),
        Binding(LEAVE, "leave", "leave typing"),
        Binding("ctrl+c", "interrupt", show=False, priority=True),  # the app's ctrl+c would come first
    ]
    follow: reactive[bool] = reactive(True)
    typing: reactive[bool] = reactive(False)
    target = ""
    """Whom typing goes to (the indicator names it)."""

    @dataclass
    class Typed(Message):
        data: str

    def __init__(self, columns: int = 120, lines: int = 30, history: int = 5000, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.history = history
        self.raw: list[str] = []
        self.raw_size = 0
        self.held: list[str] = []
        self.fed = 0
        self._new_vt(columns, lines)

    def _new_vt(self, columns: int, lines: int) -> None:
        self.vt = pyte.HistoryScreen(columns, lines, history=self.history, ratio=0.5)
        self.vt.set_mode(pyte.modes.LNM)  # a bare LF also returns the carriage (logs written without a PTY)
        self.stream = pyte.Stream(self.vt)

    def feed(self, data: str) -> None:
        if not data:
            return
        self.fed += len(data)
        self.raw.append(data)
        self.raw_size += len(data)
        while self.raw_size > RAW_KEEP and len(self.raw) > 1:
            self.raw_size -= len(self.raw.pop(0))
        if self.follow:
            self.stream.feed(data)
            self.refresh()
        else:
            self.held.append(data)
            self._title()

    def clear(self) -> None:
        self.vt.reset()
        self.held.clear()
        self.raw.clear()
        self.raw_size = self.fed = 0
        self.refresh()

    def text(self) -> str:
        """The visible page as plain text (tests and the live check read it)."""
        return "\n".join(line.rstrip() for line in self.vt.display)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        for y in range(self.vt.lines):
            row = self.vt.buffer[y]
            run, run_style = "", None
            for x in range(self.vt.columns):
                ch = row[x]
                style = _style(ch.fg, ch.bg, ch.bold, ch.italics, ch.underscore, ch.reverse)
                if style is not run_style and run:
                    out.append(run, run_style)
                    run = ""
                run_style = style
                run += ch.data
            out.append(run.rstrip() if run_style == _style("default", "default", False, False, False, False)
                       else run, run_style)
            if y < self.vt.lines - 1:
                out.append("\n")
        return out

    def on_resize(self, event: events.Resize) -> None:
        """Replay the kept output into a screen of the new size (pyte's own resize drops the
        top lines, which are the only ones a short log has)."""
        size = self.content_region.size
        if size.width > 0 and size.height > 0 and (size.width, size.height) != (self.vt.columns, self.vt.lines):
            self._new_vt(size.width, size.height)
            kept = max(0, len(self.raw) - len(self.held))
            for chunk in self.raw[:kept]:
                self.stream.feed(chunk)
            self.refresh()

    def action_page(self, direction: int) -> None:
        if direction < 0:
            self.follow = False
            self.vt.prev_page()
        else:
            self.vt.next_page()
            if self.vt.history.position >= self.vt.history.size:
                self.follow = True
        self.refresh()

    def on_key(self, event: events.Key) -> None:
        if not self.typing:
            return
        if event.key in ("pageup", "pagedown"):
            return  # scrollback still works while typing
        event.stop()
        event.prevent_default()
        if event.key == LEAVE:
            self.typing = False
            return
        data = key_bytes(event.key, event.character)
        if data:
            self.post_message(self.Typed(data))

    def on_paste(self, event: events.Paste) -> None:
        if self.typing and event.text:
            event.stop()
            self.post_message(self.Typed(event.text))

    def on_blur(self) -> None:
        self.typing = False

    def action_leave(self) -> None:
        self.typing = False

    def action_interrupt(self) -> None:
        self.post_message(self.Typed("\x03"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.typing if action in ("leave", "interrupt") else True

    def watch_typing(self, typing: bool) -> None:
        self.set_class(typing, "-typing")
        self.border_title = f"⌨ typing into {self.target or 'the agent'} · ctrl+] leaves" if typing else None
        self.refresh_bindings()

    def action_follow(self) -> None:
        self.follow = not self.follow

    def watch_follow(self, follow: bool) -> None:
        if follow:
            while self.vt.history.position < self.vt.history.size:
                self.vt.next_page()
            for chunk in self.held:
                self.stream.feed(chunk)
            self.held.clear()
        self._title()
        self.refresh()

    def _title(self) -> None:
        held = sum(len(c) for c in self.held)
        self.border_subtitle = "following" if self.follow else f"paused, {held:,} new bytes (f: follow)"
