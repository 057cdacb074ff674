"""Convoys: one row per convoy with a progress bar of its members by status; Enter opens
the convoy drawer (its members, each opening the bead drawer)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Header, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens import fmt
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import Changes, TownState
from gastown.tui.widgets.footer import KeyFooter

COLUMNS = (("id", "id"), ("status", "status"), ("progress", "progress"), ("title", "title"), ("state", "state"))


def convoy_state(c: dict[str, Any]) -> str:
    if c.get("landed_at"):
        return f"landed {str(c['landed_at'])[:16]}"
    return "staged" if c.get("staged") else ""


class ConvoysScreen(Page):
    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("convoys")
        yield Static("Convoys", id="convoys-title", classes="section")
        yield DataTable(id="convoys", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#convoys", DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and "convoys" not in changes.pages:
            return
        table = self.query_one("#convoys", DataTable)
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        table.clear()
        for c in reversed(state.convoys):  # newest first
            table.add_row(c["id"], fmt.status(c.get("status")), fmt.bar(c.get("progress") or {}, int(c.get("total") or 0)),
                          fmt.short(c.get("title"), 60), Text(convoy_state(c), style="dim"), key=c["id"])
        ids = [c["id"] for c in reversed(state.convoys)]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        self.query_one("#convoys-title", Static).update(f"Convoys ({len(ids)})" if ids else
                                                        "Convoys (none: gt sling --batch PLAN)")

    def subject(self) -> Subject | None:
        key = fmt.selected_key(self.query_one("#convoys", DataTable))
        rows = {c["id"]: c for c in self.app.state.convoys}  # type: ignore[attr-defined]
        return subject_of_bead({"type": "convoy", **rows[key]}) if key in rows else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(m.OpenConvoy(str(event.row_key.value)))
