"""The bead board: one virtualised column per status, filtered by rig, type and text."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import Header, Input, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import STATUS_TITLES, STATUSES, TYPES, Changes, TownState
from gastown.tui.widgets.bead_list import BeadList
from gastown.tui.widgets.footer import KeyFooter


STAGGER = 2
"""More changed columns than this are redrawn one per frame."""


class Chip(Static):
    """A filter value that cycles on click (keys: g for rig, t for type). Lighter than a
    Select, whose overlay doubles the cost of opening the board."""

    @dataclass
    class Pressed(Message):
        which: str

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Pressed(str(self.id)))


class BoardScreen(Page):
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """Moving between columns restyles the two columns (their :focus rules); Textual's
    default also repaints the whole screen on every focus change."""
    BINDINGS = [
        Binding("slash", "focus_filter", "filter"),
        Binding("t", "cycle('type')", "type", show=False),  # the chip names its key
        Binding("g", "cycle('rig')", "rig", show=False),  # the chip names its key
        Binding("v", "cycle('convoy')", "convoy", show=False),  # the chip names its key
        Binding("left", "column(-1)", "column", show=False),
        Binding("right", "column(1)", "column", show=False),
        Binding("escape", "clear_text", "clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.heads: dict[str, str] = {}
        self.rigs: tuple[str, ...] = ()
        self.convoys: tuple[str, ...] = ()
        self.values: dict[str, str | None] = {"rig": None, "type": "issue", "convoy": None}
        self.last_column: BeadList | None = None
        self.placed = False
        """Whether focus has found a column with beads (or the person moved it themselves)."""
        self.state: TownState | None = None
        self.queued: list[str] = []
        """Columns still to redraw, one per frame (see `redraw`)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("board")
        with Horizontal(id="filters"):
            yield Chip(self.chip_text("rig"), id="rig", classes="chip")
            yield Chip(self.chip_text("type"), id="type", classes="chip")
            yield Chip(self.chip_text("convoy"), id="convoy", classes="chip")
            yield Input(placeholder="filter: id, title, assignee, label  (/)", id="text")
        with Horizontal(id="columns"):
            for status in STATUSES:
                with Vertical(classes="column"):
                    yield Static(STATUS_TITLES[status], id=f"head-{status}", classes="column-head")
                    yield BeadList(status, id=f"col-{status}")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.focus_column(0)
        self.placed = False

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, BeadList):
            self.last_column = event.widget

    def column(self, status: str) -> BeadList:
        return self.query_one(f"#col-{status}", BeadList)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        """Columns whose rows changed get them again (each repaints only the cards that differ).
        When more than STAGGER columns changed (a flood of events), one column is redrawn per
        frame, the next after the previous is painted: a keypress then waits behind one
        column's paint, not the whole board's. A full redraw (`changes` None) and a snapshot
        (`changes.at_once`) are immediate."""
        board = state.board
        self.state = state
        self.rigs = tuple(state.rigs)
        self.convoys = tuple(reversed([c["id"] for c in state.convoys]))  # the chip cycles newest first
        changed = [s for s in STATUSES if changes is None or s in changes.columns]
        if changes is not None and not changes.at_once and len(set(changed) | set(self.queued)) > STAGGER:
            first = not self.queued
            self.queued += [s for s in changed if s not in self.queued]
            if first:
                self._next_column()
            changed = []
        elif self.queued:
            changed = [s for s in STATUSES if s in changed or s in self.queued]
            self.queued = []
        for status in STATUSES:
            if status in changed:
                self.column(status).set_rows(board.column(status))
            elif changes is not None and not changes.counts:
                continue
            self._head(status)
        if not self.placed:
            self.place_focus()

    def _next_column(self) -> None:
        if not self.queued or self.state is None or not self.is_mounted:
            self.queued = []
            return
        status = self.queued.pop(0)
        self.column(status).set_rows(self.state.board.column(status))
        self._head(status)
        if self.queued:
            self.call_after_refresh(self._next_column)

    def _head(self, status: str) -> None:
        assert self.state is not None
        head = f"{STATUS_TITLES[status]} ({self.state.board.count_label(status, len(self.column(status).rows))})"
        if head != self.heads.get(status):
            self.heads[status] = head
            self.query_one(f"#head-{status}", Static).update(head, layout=False)  # one line, fixed size

    def place_focus(self) -> None:
        """Start on the first column that has beads: Enter on an empty column does nothing."""
        focused = self.focused
        if isinstance(focused, BeadList) and focused.rows:
            self.placed = True
            return
        if focused is not None and not isinstance(focused, BeadList):
            return  # typing in the filter
        for i, status in enumerate(STATUSES):
            if self.column(status).rows:
                self.focus_column(i)
                self.placed = True
                return

    # --------------------------------------------------------------- filters
    def chip_text(self, which: str) -> str:
        value = self.values[which]
        key = {"rig": "g", "type": "t", "convoy": "v"}[which]
        return f"{key} {which}: {value or 'all'} ▾"

    def _changed(self) -> None:
        self.post_message(m.FilterChanged(rig=self.values["rig"], type=self.values["type"],
                                          text=self.query_one("#text", Input).value.strip(),
                                          convoy=self.values["convoy"]))

    def action_cycle(self, which: str) -> None:
        """Next rig / type / convoy, then "all"."""
        options = {"type": TYPES, "rig": self.rigs, "convoy": self.convoys}[which]
        values: list[str | None] = [None, *options]
        current = self.values[which]
        self.values[which] = values[(values.index(current) + 1) % len(values)] if current in values else None
        self.query_one(f"#{which}", Chip).update(self.chip_text(which))  # its width follows the text
        self._changed()

    def on_chip_pressed(self, event: Chip.Pressed) -> None:
        self.action_cycle(event.which)

    @on(Input.Changed, "#text")
    def text_changed(self) -> None:
        self._changed()

    @on(Input.Submitted, "#text")
    def text_done(self) -> None:
        self.focus_column(0)

    def action_focus_filter(self) -> None:
        self.query_one("#text", Input).focus()

    def action_clear_text(self) -> None:
        text = self.query_one("#text", Input)
        if text.value:
            text.value = ""
        self.focus_column(0)

    # ------------------------------------------------------------ navigation
    def focus_column(self, index: int) -> None:
        self.column(STATUSES[index % len(STATUSES)]).focus()

    def action_column(self, delta: int) -> None:
        self.placed = True
        focused = self.focused
        index = STATUSES.index(focused.status) if isinstance(focused, BeadList) else -delta
        self.focus_column(index + delta)

    def subject(self) -> Subject | None:
        col = self.focused if isinstance(self.focused, BeadList) else self.last_column
        row = col.current_row if col is not None else None
        return subject_of_bead(row) if row else None

    def on_bead_list_selected(self, event: BeadList.Selected) -> None:
        self.post_message(m.OpenBead(event.bead_id))

    def on_bead_list_at_end(self, event: BeadList.AtEnd) -> None:
        self.post_message(m.LoadMore(event.status))
