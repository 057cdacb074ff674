"""Town overview: live counters, rigs, agents by status with their latest message, activity."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, RichLog, Static

from gastown.tui import messages as m
from gastown.tui.actions import Subject
from gastown.tui.screens import fmt
from gastown.tui.screens.page import Page
from gastown.tui.widgets.nav import NavBar
from gastown.tui.state import STATUS_TITLES, STATUSES, Changes, TownState
from gastown.tui.widgets.footer import KeyFooter


class OverviewScreen(Page):
    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("overview")
        yield Static(id="counters")
        with Horizontal(id="ov-main"):
            with Vertical(id="ov-rigs"):
                yield Static("Rigs", classes="section")
                yield Static(id="rigs")
            with Vertical(id="ov-agents"):
                yield Static("Agents", classes="section")
                yield DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        yield Static("Activity", classes="section")
        yield RichLog(id="feed", max_lines=200, wrap=False, markup=False, auto_scroll=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#agents", DataTable)
        for label, key in (("agent", "name"), ("role", "role"), ("rig", "rig"), ("status", "status"),
                           ("hook", "hook"), ("latest message", "message")):
            table.add_column(label, key=key)

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        counters = self.counters(state)
        if changes is None or counters.plain != self.shown.get("counters"):
            self.shown["counters"] = counters.plain
            self.query_one("#counters", Static).update(counters, layout=False)  # one line, fixed size
        rigs = "\n".join(state.rigs) or "(no rigs: gt rig add NAME PATH)"
        if changes is None or rigs != self.shown.get("rigs"):
            self.shown["rigs"] = rigs
            self.query_one("#rigs", Static).update(rigs)
        if changes is None or changes.agents:
            self.draw_agents(state)
        feed = self.query_one("#feed", RichLog)
        lines = list(state.feed)[-100:] if changes is None else changes.feed[-100:]
        if changes is None:
            feed.clear()
        for line in lines:
            feed.write(line)

    @staticmethod
    def counters(state: TownState) -> Text:
        text = Text()
        counts = state.board.counts
        for s in STATUSES:
            text.append(f"{STATUS_TITLES[s]} ", style="bold")
            text.append(f"{counts.get(s, 0):,}", style=fmt.STATUS_STYLE.get(s if s != "failed" else "failed_bead", ""))
            text.append("  " if s != STATUSES[-1] else " ")
        tin, tout = state.tokens()
        working = sum(1 for a in state.agents.values() if a.get("status") == "working")
        text.append(f"│ merged today {state.merges_today()} │ tokens {fmt.human(tin)} in/{fmt.human(tout)} out"
                    f" │ {working}/{len(state.agents)} agents working")
        return text

    def draw_agents(self, state: TownState) -> None:
        fmt.refill(self.query_one("#agents", DataTable), [
            (a["name"], (a["name"], a.get("role") or "", a.get("rig") or "", fmt.status(a.get("status")),
                         a.get("hook_bead_id") or "", fmt.short(a.get("status_message") or "", 70)))
            for a in state.sorted_agents()])

    def subject(self) -> Subject | None:
        name = fmt.selected_key(self.query_one("#agents", DataTable))
        agents = self.app.state.agents  # type: ignore[attr-defined]
        return Subject("agent", name, agents[name]) if name is not None and name in agents else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(m.OpenAgent(str(event.row_key.value)))
