"""Escalations, the most severe first (acknowledged ones last, dimmed); `a` acknowledges."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens import fmt
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import Changes, TownState
from gastown.tui.widgets.footer import KeyFooter

COLUMNS = (("severity", "severity"), ("id", "id"), ("title", "title"), ("category", "category"),
           ("ack", "ack"), ("re-esc", "re"), ("created", "created"))


class EscalationsScreen(Page):
    BINDINGS = [Binding("a", "ack", "acknowledge")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, object]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("escalations")
        yield Static("Escalations", id="esc-title", classes="section")
        yield DataTable(id="esc-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="esc-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#esc-table", DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and "escalations" not in changes.pages:
            return
        self.rows = {e["id"]: e for e in state.escalation_list}
        table = self.query_one("#esc-table", DataTable)
        current = self.current()
        table.clear()
        for e in state.escalation_list:
            dim = "dim" if e.get("acknowledged") else ""
            table.add_row(fmt.severity(e.get("severity")), Text(e["id"], style=dim),
                          Text(fmt.short(e.get("title"), 60), style=dim), e.get("category") or "",
                          "yes" if e.get("acknowledged") else Text("no", style="bold"),
                          str(e.get("reescalation_count") or 0), str(e.get("created_at") or "")[:16], key=e["id"])
        ids = [e["id"] for e in state.escalation_list]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        count, _ = state.unacknowledged()
        self.query_one("#esc-title", Static).update(f"Escalations ({count} unacknowledged)")
        self.show_body()

    def current(self) -> str | None:
        table = self.query_one("#esc-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def show_body(self) -> None:
        esc = self.rows.get(self.current() or "")
        self.query_one("#esc-body", Static).update(fmt.fields([
            ("title", (esc or {}).get("title")), ("body", fmt.short((esc or {}).get("body"), 600))]) if esc else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_body()

    def subject(self) -> Subject | None:
        esc = self.rows.get(self.current() or "")
        return subject_of_bead({"type": "escalation", **esc}) if esc else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(m.OpenBead(str(event.row_key.value)))

    def action_ack(self) -> None:
        current = self.current()
        esc = self.rows.get(current or "")
        if not esc:
            return
        if esc.get("acknowledged"):
            self.notify(f"{current} is already acknowledged", timeout=2)
            return
        self.post_message(m.AckEscalation(str(esc["id"])))
