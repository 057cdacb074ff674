"""Merge queue: what needs a human (failed gates, conflicts, escalations), the queue itself,
open escalations and the refinery's recent activity."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, RichLog, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens import fmt
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import TERMINAL, Changes, TownState
from gastown.tui.widgets.footer import KeyFooter

TABLES = {
    "attention": [("kind", "kind"), ("id", "id"), ("title", "title"), ("why", "detail")],
    "queue": [("id", "id"), ("status", "status"), ("rig", "rig"), ("branch", "branch"), ("review", "review"),
              ("retries", "retry_count")],
    "escalations": [("id", "id"), ("status", "status"), ("from", "source"), ("message", "title")],
}


class MergeQueueScreen(Page):
    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("mq")
        yield Static("Needs attention", classes="section attention")
        yield DataTable(id="attention", cursor_type="row", zebra_stripes=True)
        yield Static("Queue", classes="section")
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="mq-bottom"):
            with Vertical():
                yield Static("Escalations", classes="section")
                yield DataTable(id="escalations", cursor_type="row", zebra_stripes=True)
            with Vertical():
                yield Static("Refinery activity", classes="section")
                yield RichLog(id="activity", max_lines=200, wrap=False, markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        for name, cols in TABLES.items():
            table = self.query_one(f"#{name}", DataTable)
            for label, key in cols:
                table.add_column(label, key=key)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is None or changes.mq:
            attention = state.needs_attention()
            self.fill("attention", attention, key="id")
            self.query_one(".attention", Static).update(f"Needs attention ({len(attention)})")
            queue = [{**mr, "status": fmt.status(mr.get("status")),
                      "review": ((mr.get("metadata") or {}).get("review") or {}).get("state", "")}
                     for mr in state.mrs if mr.get("status") not in TERMINAL]
            self.fill("queue", queue, key="id")
            escalations = [{**e, "source": (e.get("metadata") or {}).get("source") or e.get("created_by") or "",
                            "status": fmt.status(e.get("status"))}
                           for e in state.escalations if e.get("status") not in TERMINAL]
            self.fill("escalations", escalations, key="id")
        log = self.query_one("#activity", RichLog)
        if changes is None:
            log.clear()
        for line in (list(state.activity) if changes is None else changes.activity)[-100:]:
            log.write(line)

    def fill(self, name: str, rows: list[dict[str, object]], key: str) -> None:
        fmt.refill(self.query_one(f"#{name}", DataTable), [
            (str(row[key]), tuple(row.get(k) if not isinstance(row.get(k), str) else fmt.short(row.get(k), 70)
                                  for _, k in TABLES[name])) for row in rows])

    def subject(self) -> Subject | None:
        """The focused table's row: a merge request in the queue (or a merge failure), else a bead."""
        table = self.focused if isinstance(self.focused, DataTable) else self.query_one("#attention", DataTable)
        key = fmt.selected_key(table)
        if key is None:
            return None
        state = self.app.state  # type: ignore[attr-defined]
        mrs = {r["id"]: r for r in state.mrs}
        if key in mrs:
            return subject_of_bead({"type": "merge_request", **mrs[key]})
        rows = {r["id"]: r for r in state.escalations}
        return subject_of_bead(rows.get(key) or {"id": key})

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row_id = str(event.row_key.value or "")
        if not row_id:
            return
        table = event.data_table.id
        if table == "queue" or (table == "attention" and event.data_table.get_cell(event.row_key, "kind") == "merge"):
            self.post_message(m.OpenMergeRequest(row_id))
        else:
            self.post_message(m.OpenBead(row_id))
