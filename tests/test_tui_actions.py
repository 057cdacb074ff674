"""Acting from the dashboard against the fake daemon: every action reaches the daemon as the
right call(s), destructive ones only after a confirmation, failures are shown; the key help,
the action menu and the command palette list the actions; focus, selection and the Mayor
input behave."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Footer, Input, OptionList, TextArea

from gastown.protocol import ErrorCode, Method, RpcError
from gastown.tui import actions as acts
from gastown.tui.app import GastownApp, make_app
from gastown.tui.screens.agent import AgentDrawer
from gastown.tui.screens.dialogs import ActionMenu, ConfirmScreen, FormScreen, HelpScreen
from gastown.tui.screens.drawers import ConvoyDrawer
from gastown.tui.state import STATUSES
from gastown.tui.widgets.bead_list import BeadList
from tests.test_tui import FakeClient, column, ids, loaded, town, until, widget_text

Call = tuple[str, dict[str, Any]]


class ActingFake(FakeClient):
    """The fake daemon, plus the action methods: each is recorded and changes the fake the
    way the daemon would (with the event), so the board follows."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.acted: list[Call] = []
        self.archived: set[str] = set()
        self.fail: dict[str, RpcError] = {}

    def _call(self, method: str, p: dict[str, Any]) -> Any:
        if method == Method.BEAD_LIST:
            return [r for r in super()._call(method, p) if r["id"] not in self.archived]
        handler = HANDLERS.get(method)
        if handler is None:
            return super()._call(method, p)
        self.acted.append((method, dict(p)))
        if method in self.fail:
            raise self.fail[method]
        return handler(self, p)

    def bead(self, bead_id: str) -> dict[str, Any]:
        return dict(self.beads[bead_id])


def _sling(f: ActingFake, p: dict[str, Any]) -> Any:
    row = f.add_bead(f"gt-n{len(f.acted)}", p["title"], rig=p["rig"], emit=True)
    return dict(row)


def _update(f: ActingFake, p: dict[str, Any]) -> Any:
    b = f.beads[p["id"]]
    for k in ("title", "body", "priority"):
        if k in p:
            b[k] = p[k]
    b["labels"] = [x for x in b["labels"] if x not in p.get("remove_labels", [])] + p.get("add_labels", [])
    f.emit(p["id"], "fields_updated", meta={"fields": list(p)})
    return f.bead(p["id"])


def _label(on: bool) -> Any:
    def handle(f: ActingFake, p: dict[str, Any]) -> Any:
        b = f.beads[p["id"]]
        b["labels"] = [x for x in b["labels"] if x != acts.HELD] + ([acts.HELD] if on else [])
        f.emit(p["id"], "held" if on else "released")
        return f.bead(p["id"])
    return handle


def _move(to: str, event: str = "status_changed") -> Any:
    def handle(f: ActingFake, p: dict[str, Any]) -> Any:
        f.emit(p["id"], event, new=to)
        return f.bead(p["id"])
    return handle


def _archive(f: ActingFake, p: dict[str, Any]) -> Any:
    for i in p["ids"]:
        f.archived.add(i)
        f.emit(i, "archived")
    return [f.bead(i) for i in p["ids"]]


def _ok(f: ActingFake, p: dict[str, Any]) -> Any:
    return {"id": p.get("id") or p.get("name") or "t", "ok": True}


def _deps(add: bool) -> Any:
    def handle(f: ActingFake, p: dict[str, Any]) -> Any:
        if add:
            f.deps.append((p["id"], p["depends_on"], "blocks"))
        else:
            f.deps = [d for d in f.deps if (d[0], d[1]) != (p["id"], p["depends_on"])]
        f.emit(p["id"], "dependency_added" if add else "dependency_removed", new=p["depends_on"])
        return f.bead(p["id"])
    return handle


HANDLERS = {
    Method.SLING: _sling, Method.BEAD_UPDATE: _update, Method.DEP_ADD: _deps(True), Method.DEP_REMOVE: _deps(False),
    Method.BEAD_HOLD: _label(True), Method.BEAD_RELEASE: _label(False), Method.BEAD_RETRY: _move("open", "reopened"),
    Method.BEAD_CLOSE: _move("closed", "closed"), Method.BEAD_REOPEN: _move("open", "reopened"),
    Method.BEAD_ARCHIVE: _archive, Method.MQ_RETRY: _ok, Method.AGENT_STOP: _ok, Method.AGENT_RESET: _ok,
    Method.AGENT_NUDGE: _ok, Method.CONVOY_START: _ok, Method.CONVOY_CLOSE: _ok, Method.CONVOY_ADD: _ok,
    Method.CONVOY_REMOVE: _ok, Method.TOWN_PAUSE: _ok, Method.TOWN_RESUME: _ok, Method.RIG_PARK: _ok,
    Method.RIG_UNPARK: _ok,
}


def acting_town() -> ActingFake:
    fake = ActingFake()
    base = town()
    for name in ("beads", "deps", "agents", "mrs", "logs", "history", "diffs", "convoys", "escalations", "mail",
                 "clock"):
        setattr(fake, name, getattr(base, name))
    fake.convoys["gt-cv1"]["staged"] = True
    return fake


def select_bead(app: GastownApp, bead_id: str) -> None:
    for status in STATUSES:
        col = column(app, status)
        if bead_id in ids(app, status):
            col.focus()
            col.move_to(ids(app, status).index(bead_id))
            return
    raise AssertionError(f"{bead_id} is not on the board")


def select_row(app: GastownApp, table_id: str, key: str) -> None:
    table = app.screen.query_one(table_id, DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(key), animate=False)


async def fill(pilot: Any, app: GastownApp, values: dict[str, str]) -> None:
    await until(pilot, lambda: isinstance(app.screen, FormScreen), what="the form")
    form = app.screen
    for name, value in values.items():
        widget = form.query_one(f"#f-{name}")
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.press("ctrl+s")


async def confirm(pilot: Any, app: GastownApp, yes: bool = True) -> str:
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
    question = str(app.screen.query_one("#question").render())
    await pilot.press("y" if yes else "n")
    return question


async def acted(pilot: Any, fake: ActingFake, n: int) -> list[Call]:
    await until(pilot, lambda: len(fake.acted) >= n, what=f"{n} daemon call(s)")
    return fake.acted


# ------------------------------------------------------------------ beads
async def test_sling_from_the_board_with_a_typed_form() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, FormScreen), what="the sling form")
        await pilot.press(*"add pow")  # the title has focus; Enter moves on field by field
        await pilot.press("tab", *"raise to a power", "tab")
        app.screen.query_one("#f-rig", Input).value = "app"
        app.screen.query_one("#f-depends_on", Input).value = "gt-a1, gt-c3"
        app.screen.query_one("#f-persona", Input).value = "reviewer"
        await pilot.press("ctrl+s")
        (method, params), = await acted(pilot, fake, 1)
        assert method == Method.SLING
        assert params == {"title": "add pow", "rig": "app", "body": "raise to a power", "priority": 2,
                          "depends_on": ["gt-a1", "gt-c3"], "persona": "reviewer"}
        await until(pilot, lambda: "gt-n1" in ids(app, "open") and column(app, "open").rows[-1]["title"] == "add pow",
                    what="the slung bead on the board")


async def test_a_form_refuses_missing_required_fields() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        await pilot.press("S")
        await fill(pilot, app, {"title": "", "rig": ""})
        assert isinstance(app.screen, FormScreen)
        assert "required: title, rig" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), what="cancelled")
        assert fake.acted == []


async def test_edit_a_bead_changes_fields_labels_and_dependencies() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        select_bead(app, "gt-b2")
        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, FormScreen), what="the edit form")
        form = app.screen
        assert form.query_one("#f-title", Input).value == "add sub"  # prefilled from bead.show
        assert form.query_one("#f-depends_on", Input).value == "gt-a1"
        await fill(pilot, app, {"title": "add subtraction", "labels": "math, urgent", "priority": "0",
                                "depends_on": "gt-c3", "body": "both signs"})
        calls = await acted(pilot, fake, 3)
        assert calls == [(Method.BEAD_UPDATE, {"id": "gt-b2", "title": "add subtraction", "body": "both signs",
                                               "priority": 0, "add_labels": ["math", "urgent"]}),
                         (Method.DEP_ADD, {"id": "gt-b2", "depends_on": "gt-c3"}),
                         (Method.DEP_REMOVE, {"id": "gt-b2", "depends_on": "gt-a1"})]
        await until(pilot, lambda: (column(app, "open").current_row or {}).get("title") == "add subtraction",
                    what="the edited card")


async def test_hold_then_release_shows_on_the_card() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        select_bead(app, "gt-b2")
        await pilot.press("U")  # not held: release does not apply, nothing is called
        await pilot.press("H")
        assert (await acted(pilot, fake, 1))[-1] == (Method.BEAD_HOLD, {"id": "gt-b2"})
        await until(pilot, lambda: "held" in widget_text(column(app, "open")), what="held on the card")
        await pilot.press("U")
        assert (await acted(pilot, fake, 2))[-1] == (Method.BEAD_RELEASE, {"id": "gt-b2"})
        assert len(fake.acted) == 2


async def test_retry_a_failed_bead_needs_a_reason() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "failed"), what="board")
        select_bead(app, "gt-e5")
        await pilot.press("R")
        await fill(pilot, app, {"reason": "the flaky test is fixed"})
        assert (await acted(pilot, fake, 1)) == [(Method.BEAD_RETRY, {"id": "gt-e5",
                                                                      "reason": "the flaky test is fixed"})]
        await until(pilot, lambda: "gt-e5" in ids(app, "open"), what="back to open")


async def test_close_asks_first_and_no_means_no() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        select_bead(app, "gt-b2")
        await pilot.press("X")
        await fill(pilot, app, {"reason": "duplicate"})
        assert "Close bead gt-b2" in await confirm(pilot, app, yes=False)
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="dismissed")
        assert fake.acted == []
        await pilot.press("X")
        await fill(pilot, app, {"reason": "duplicate"})
        await confirm(pilot, app)
        assert await acted(pilot, fake, 1) == [(Method.BEAD_CLOSE, {"id": "gt-b2", "reason": "duplicate"})]
        await until(pilot, lambda: "gt-b2" in ids(app, "closed"), what="closed")


async def test_reopen_and_archive_a_closed_bead() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "closed"), what="board")
        select_bead(app, "gt-d4")
        await pilot.press("A")
        assert "Archive bead gt-d4" in await confirm(pilot, app)
        assert await acted(pilot, fake, 1) == [(Method.BEAD_ARCHIVE, {"ids": ["gt-d4"]})]
        await until(pilot, lambda: "gt-d4" not in ids(app, "closed"), what="archived beads leave the board")
        fake.add_bead("gt-z9", "old work", status="closed")
        app.action_reload()
        await until(pilot, lambda: "gt-z9" in ids(app, "closed"), what="reloaded")
        select_bead(app, "gt-z9")
        await pilot.press("O")
        await fill(pilot, app, {"reason": "not done after all"})
        assert (await acted(pilot, fake, 2))[-1] == (Method.BEAD_REOPEN, {"id": "gt-z9",
                                                                         "reason": "not done after all"})


async def test_a_failing_call_is_shown() -> None:
    fake = acting_town()
    fake.fail[Method.BEAD_HOLD] = RpcError(ErrorCode.INVALID_STATE, "bead gt-b2 is in review: park the rig")
    app = make_app(fake, start="board")
    notes: list[str] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        select_bead(app, "gt-b2")
        await pilot.press("H")
        await until(pilot, lambda: notes, what="the error")
        assert notes == ["Hold bead (keep it from dispatch) failed: bead gt-b2 is in review: park the rig"]


# ------------------------------------------------------- mq, agents, convoys, town
async def test_merge_request_retry_from_the_merge_queue() -> None:
    fake = acting_town()
    app = make_app(fake, start="mq")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.state.mrs, what="queue")
        await until(pilot, lambda: app.screen.query_one("#attention", DataTable).row_count, what="attention")
        select_row(app, "#attention", "gt-mr1")
        await pilot.press("R")
        assert await acted(pilot, fake, 1) == [(Method.MQ_RETRY, {"id": "gt-mr1"})]


@pytest.mark.parametrize("key,method,form", [("K", Method.AGENT_STOP, None), ("Z", Method.AGENT_RESET, None),
                                             ("N", Method.AGENT_NUDGE, {"message": "run the tests"})])
async def test_agent_actions_from_the_overview(key: str, method: str, form: dict[str, str] | None) -> None:
    fake = acting_town()
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.screen.query_one("#agents", DataTable).row_count == 3,
                    what="agents")
        select_row(app, "#agents", "maple")
        await pilot.press(key)
        if form:
            await fill(pilot, app, form)
        else:
            assert "agent maple" in await confirm(pilot, app)
        assert await acted(pilot, fake, 1) == [(method, {"name": "maple", **(form or {})})]


async def test_agent_actions_from_the_agent_drawer() -> None:
    fake = acting_town()
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and app.screen.query_one("#agents", DataTable).row_count, what="agents")
        select_row(app, "#agents", "toast")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer) and app.screen.agent, what="drawer")
        await pilot.press("K")
        await confirm(pilot, app)
        assert await acted(pilot, fake, 1) == [(Method.AGENT_STOP, {"name": "toast"})]


async def test_staged_convoy_start_add_remove_and_close() -> None:
    fake = acting_town()
    app = make_app(fake, start="convoys")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.screen.query_one("#convoys", DataTable).row_count,
                    what="convoys")
        select_row(app, "#convoys", "gt-cv1")
        await pilot.press("plus")
        await fill(pilot, app, {"beads": "gt-e5 gt-d4"})
        assert (await acted(pilot, fake, 1))[-1] == (Method.CONVOY_ADD, {"id": "gt-cv1", "beads": ["gt-e5", "gt-d4"]})
        await pilot.press("G")
        assert (await acted(pilot, fake, 2))[-1] == (Method.CONVOY_START, {"id": "gt-cv1"})
        await pilot.press("X")
        await confirm(pilot, app)
        assert (await acted(pilot, fake, 3))[-1] == (Method.CONVOY_CLOSE, {"id": "gt-cv1"})
        await pilot.press("enter")  # the drawer: remove the highlighted member
        await until(pilot, lambda: isinstance(app.screen, ConvoyDrawer) and app.screen.members, what="drawer")
        members = app.screen.query_one("#members", OptionList)
        members.focus()
        members.highlighted = 1
        await pilot.press("minus")
        await until(pilot, lambda: isinstance(app.screen, FormScreen), what="the form")
        assert app.screen.query_one("#f-beads", Input).value == "gt-b2"
        await pilot.press("ctrl+s")
        assert (await acted(pilot, fake, 4))[-1] == (Method.CONVOY_REMOVE, {"id": "gt-cv1", "beads": ["gt-b2"]})


async def test_town_and_rig_actions_need_no_selection() -> None:
    fake = acting_town()
    app = make_app(fake, start="mail")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        await pilot.press("P")
        await confirm(pilot, app)
        await pilot.press("W")
        await pilot.press("L")
        await fill(pilot, app, {"rig": "web"})
        await pilot.press("F")
        await fill(pilot, app, {"rig": "web"})
        assert await acted(pilot, fake, 4) == [(Method.TOWN_PAUSE, {}), (Method.TOWN_RESUME, {}),
                                                (Method.RIG_PARK, {"name": "web"}),
                                                (Method.RIG_UNPARK, {"name": "web"})]


# ------------------------------------------------------ discoverability
async def test_space_menu_lists_what_applies_and_runs_it() -> None:
    fake = acting_town()
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        select_bead(app, "gt-b2")
        await pilot.press("space")
        await until(pilot, lambda: isinstance(app.screen, ActionMenu), what="the menu")
        menu = app.screen.query_one("#menu", OptionList)
        names = [menu.get_option_at_index(i).id for i in range(menu.option_count)]
        assert names == [a.name for a in acts.applicable(acts.subject_of_bead(fake.bead("gt-b2")))]
        assert "hold" in names and "release" not in names and "reopen" not in names and "stop" not in names
        menu.focus()
        menu.highlighted = names.index("hold")
        await pilot.press("enter")
        assert await acted(pilot, fake, 1) == [(Method.BEAD_HOLD, {"id": "gt-b2"})]


async def test_key_help_lists_pages_screen_keys_and_every_action() -> None:
    app = make_app(acting_town(), start="board")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = str(app.screen.query_one("#help-text").render())
        for action in acts.ACTIONS:
            assert action.title in text
        for words in ("b  board", "filter", "command palette"):
            assert " ".join(words.split()) in " ".join(text.split())
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "BoardScreen", what="closed")


async def test_command_palette_lists_every_action() -> None:
    from textual.command import CommandPalette

    app = make_app(acting_town(), start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "open"), what="board")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")

        def prompts() -> str:
            options = app.screen.query_one(OptionList)
            return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
        await until(pilot, lambda: all(a.title in prompts() for a in acts.ACTIONS), what="every action listed")
        assert "Go to Board" in prompts()


# ----------------------------------------------------------- layout
async def test_board_focus_starts_on_the_first_column_with_beads() -> None:
    fake = FakeClient()
    fake.add_bead("gt-r1", "under review", status="in_review")
    app = make_app(fake, start="board")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "in_review"), what="board")
        await until(pilot, lambda: app.focused is column(app, "in_review"), what="focus moved")
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "BeadDrawer", what="Enter opens")


async def test_cards_keep_the_assignee_under_a_long_title_at_80_columns() -> None:
    fake = FakeClient()
    fake.add_bead("gt-w1", "a very long title that would never fit in a narrow board column at all",
                  status="in_progress", assignee="toast", dispatch_attempts=2)
    app = make_app(fake, start="board")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app) and ids(app, "in_progress"), what="board")
        card = widget_text(column(app, "in_progress")).splitlines()
        assert card[0].startswith("a very long") and card[0].endswith("…")
        assert card[1].startswith("@toast ↻2 ")  # narrow: the compact form, the id is in the drawer
        footer = app.screen.query_one(Footer)

        def keys() -> dict[str, Any]:
            return {getattr(k, "description", ""): k.region for k in footer.children if k.region.width}
        await until(pilot, lambda: {"quit", "help", "column", "open", "palette"} <= set(keys()), what="the footer")
        shown = keys()
        for what in ("quit", "help", "column", "open"):  # all on screen at 80 columns, none under the palette key
            assert shown[what].right <= min(80, shown["palette"].x), what


async def test_overview_selection_follows_the_agent_when_rows_resort() -> None:
    fake = town()
    app = make_app(fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.screen.query_one("#agents", DataTable).row_count == 3,
                    what="agents")
        select_row(app, "#agents", "birch")  # failed: the last row
        fake.emit("ag-birch", "agent_status", old="failed", new="working", meta={"agent": "birch"})
        table = app.screen.query_one("#agents", DataTable)
        await until(pilot, lambda: table.get_row_index("birch") == 0, what="birch sorted first")
        assert table.cursor_row == 0
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentDrawer) and app.screen.key == "birch",
                    what="the agent under the cursor opens")


async def test_escape_leaves_the_mayor_input() -> None:
    app = make_app(acting_town(), start="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app), what="loaded")
        await until(pilot, lambda: isinstance(app.focused, Input), what="the input has focus")
        await pilot.press("escape", "b")
        await until(pilot, lambda: type(app.screen).__name__ == "BoardScreen", what="page keys work again")
        assert isinstance(app.focused, BeadList)
