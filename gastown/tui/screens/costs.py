"""Costs and flow: is work flowing and what does it cost. The gauges of `gt stats` for the last
24 hours with sparklines of the sampled queue and working agents, spend per model, and every
budget with its use, state and the beads it holds. Loaded when the page is shown and every
`REFRESH_S` while it is (`town.stats` and `budget.show`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Sparkline, Static

from gastown.pricing import duration, money, percent
from gastown.tui.screens.page import Page
from gastown.tui.state import Changes, TownState
from gastown.tui.widgets.nav import NavBar
from gastown.tui.widgets.footer import KeyFooter

REFRESH_S = 15.0
BUDGET_STYLE = {"ok": "green", "warning": "yellow", "exhausted": "bold red"}


def gauges(stats: dict[str, Any]) -> Text:
    """The gauges as aligned lines (label, value) for the top block."""
    q = stats.get("queue_depth") or {}
    rows = [
        ("merged", f"{stats.get('merged', 0)} ({stats.get('merges_per_hour', 0):.2f}/h)"),
        ("sling → merged", f"{duration(stats.get('median_sling_to_merged_s'))} median"),
        ("first-try pass", percent(stats.get("first_try_pass_rate"))),
        ("rework", percent(stats.get("rework_rate"))),
        ("failed", percent(stats.get("failure_rate"))),
        ("utilisation", percent(stats.get("agent_utilisation"))),
        ("queue", f"{q.get('ready_beads', 0)} ready, {q.get('merge_requests', 0)} merging"),
        ("spend", f"{stats.get('tokens', 0):,} tokens, {money(stats.get('dollars'))}"),
    ]
    text = Text(f"last {stats.get('hours', 24):.0f} h\n", style="bold")
    for label, value in rows:
        text.append(f"{label:<16}", style="dim")
        text.append(f"{value}\n")
    return text


class CostsScreen(Page):
    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar("costs")
        with Horizontal(id="costs-top"):
            yield Static("loading…", id="gauges", classes="section")
            with Vertical(id="sparks"):
                yield Static("ready beads", classes="spark-label")
                yield Sparkline([], id="spark-ready")
                yield Static("working agents", classes="spark-label")
                yield Sparkline([], id="spark-working")
        yield Static("Budgets", id="budgets-title", classes="section")
        yield DataTable(id="budgets", cursor_type="row", zebra_stripes=True)
        yield Static("Spend by model", classes="section")
        yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        budgets = self.query_one("#budgets", DataTable)
        for label in ("budget", "cap", "used", "%", "state", "holds"):
            budgets.add_column(label, key=label)
        models = self.query_one("#models", DataTable)
        for label in ("model", "spend", "turns", "merged", "$/merged", "first try"):
            models.add_column(label, key=label)
        self.set_interval(REFRESH_S, self._refresh_if_shown)

    def on_screen_resume(self) -> None:
        self.app.want("costs")  # type: ignore[attr-defined]
        super().on_screen_resume()

    def _refresh_if_shown(self) -> None:
        if self.app.screen is self:
            self.app.want("costs")  # type: ignore[attr-defined]

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        if changes is not None and "costs" not in changes.pages:
            return
        stats = state.stats
        if stats is None:
            return
        self.query_one("#gauges", Static).update(gauges(stats))
        series = stats.get("series") or {}
        self.query_one("#spark-ready", Sparkline).data = [float(v) for v in series.get("ready") or [0]]
        self.query_one("#spark-working", Sparkline).data = [float(v) for v in series.get("working") or [0]]
        self._budgets(state.budgets)
        models = self.query_one("#models", DataTable)
        models.clear()
        for m in stats.get("by_model") or []:
            models.add_row(m["model"], money(m["dollars"]), str(m["turns"]), str(m["merged_beads"]),
                           money(m["dollars_per_merged_bead"]), percent(m["first_try_pass_rate"]), key=m["model"])

    def _budgets(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#budgets", DataTable)
        table.clear()
        for b in rows:
            caps = " and ".join(x for x in (f"{b['tokens']:,} tok" if b.get("tokens") else "",
                                            money(b["dollars"]) if b.get("dollars") else "") if x)
            table.add_row(b["id"], caps, f"{b['used_tokens']:,} tok, {money(b['used_dollars'])}",
                          f"{b['percent']:.0f}%", Text(b["status"], style=BUDGET_STYLE.get(b["status"], "")),
                          str(len(b.get("held_beads") or [])), key=b["id"])
        self.query_one("#budgets-title", Static).update(
            f"Budgets ({len(rows)})" if rows else "Budgets (none: gt budget set --rig R --dollars D)")
