"""The human's inbox (`mail.inbox`), newest first, unread in bold; Enter reads a message in
a drawer (`mail.read` marks it read)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Header, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens import fmt
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import TERMINAL, Changes, TownState
from gastown.tui.widgets.footer import KeyFooter

COLUMNS = (("", "unread"), ("from", "from"), ("kind", "kind"), ("subject", "title"), ("id", "id"),
           ("sent", "created"))


class MailScreen(Page):
    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("mail")
        yield Static("Inbox", id="mail-title", classes="section")
        yield DataTable(id="mail", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#mail", DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and "mail" not in changes.pages:
            return
        table = self.query_one("#mail", DataTable)
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        table.clear()
        unread = 0
        for r in state.mail:
            meta = r.get("metadata") or {}
            new = r.get("status") not in TERMINAL
            unread += new
            style = "bold" if new else "dim"
            table.add_row("●" if new else " ", Text(str(meta.get("from") or r.get("created_by") or ""), style=style),
                          meta.get("kind") or "", Text(fmt.short(r.get("title"), 70), style=style), r["id"],
                          str(r.get("created_at") or "")[:16], key=r["id"])
        ids = [r["id"] for r in state.mail]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        self.query_one("#mail-title", Static).update(f"Inbox ({len(ids)}, {unread} unread)")

    def subject(self) -> Subject | None:
        key = fmt.selected_key(self.query_one("#mail", DataTable))
        rows = {r["id"]: r for r in self.app.state.mail}  # type: ignore[attr-defined]
        return subject_of_bead(rows[key]) if key in rows else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(m.OpenMail(str(event.row_key.value)))
