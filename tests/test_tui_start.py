"""How the dashboard starts and stays cheap: `gt tui` skips Typer, the first page is the only
one imported and built, its data loads before the rest, and the footer keeps its keys while
focus moves between board columns. (Timings are in bench/bench_tui*.py, never here.)"""

from __future__ import annotations

import subprocess
import sys

from gastown.protocol import ErrorCode, exit_code
from tests.conftest import run_gt
from tests.test_tui import loaded, town, until
from gastown.tui.app import make_app
from gastown.tui.widgets.footer import KeyFooter

LATER = ("gastown.tui.screens.drawers", "gastown.tui.screens.agent", "gastown.tui.screens.dialogs",
         "gastown.tui.screens.overview", "gastown.tui.screens.mq", "gastown.tui.palette", "pyte", "rich.markdown",
         "typer")


def test_importing_the_app_leaves_other_pages_drawers_and_dialogs_for_later() -> None:
    code = ("import sys; import gastown.cli.dashboard, gastown.tui.app; "
            f"print(' '.join(sorted(set({LATER!r}) & set(sys.modules))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_gt_tui_rejects_a_bad_screen_in_one_line_without_typer() -> None:
    proc = run_gt("tui", "--screen", "nope", "--town", "nowhere")
    assert proc.returncode == exit_code(ErrorCode.INVALID_PARAMS)
    assert proc.stderr == "gt: --screen must be one of overview, board, mq, not 'nope'\n"
    typo = run_gt("tui", "--screne", "board")  # not the fast path's: Typer answers it, as before
    assert typo.returncode == 2 and "--screne" in typo.stderr
    assert "First page" in run_gt("tui", "--help").stdout


async def test_the_first_page_loads_and_builds_alone_then_the_rest_follows() -> None:
    fake = town(50)
    app = make_app(fake, start="board")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: loaded(app) and app.history_loaded and app.state.mail and app.state.convoys,
                    what="everything loaded")
        assert set(app.pages) == {"board"}
        calls = [c for c in fake.calls if c != "events.subscribe"]
        later = min(calls.index(c) for c in ("agent.list", "mq.list", "convoy.list", "mail.inbox", "town.feed"))
        assert "town.show" in calls[:later]
        assert calls[:later].count("bead.list") >= 5  # the board's five columns before anything else
        await pilot.press("m")
        await until(pilot, lambda: app.screen is app.pages.get("mq"), what="the merge queue page")
        assert set(app.pages) == {"board", "mq"}


async def test_footer_keeps_its_keys_across_columns_and_changes_with_them() -> None:
    app = make_app(town(20), start="board")
    async with app.run_test(size=(160, 40)) as pilot:
        footer = app.screen.query_one(KeyFooter)

        def shown() -> set[str]:
            return {getattr(k, "description", "") for k in footer.children}
        await until(pilot, lambda: loaded(app) and "open" in shown(), what="a column's keys in the footer")
        await pilot.pause()
        keys = list(footer.children)
        await pilot.press("right")
        await pilot.press("right")
        await pilot.pause()
        assert list(footer.children) == keys  # same bindings: not recomposed
        await pilot.press("slash")  # the filter input: the column's keys (open, column) leave the footer
        await until(pilot, lambda: list(footer.children) != keys, what="the footer recomposed")
        assert "open" not in shown() and "filter" in shown()


def test_quitting_wakes_a_thread_blocked_on_the_clients_bare_socket() -> None:
    """The client's socket is a bare `_socket.socket`; `interrupt` must still shut it down, or
    the event stream's thread stays in `recv` and `gt tui` never exits after `q`."""
    import _socket
    import threading

    from gastown.tui.remote import interrupt

    class Conn:
        def __init__(self, sock: _socket.socket) -> None:
            self.sock = sock

        def close(self) -> None:
            pass  # the fd stays open until the end: only the shutdown may wake the reader

    ours, theirs = _socket.socketpair()
    assert type(ours) is _socket.socket
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(ours.recv(1)), daemon=True)
    reader.start()
    interrupt(Conn(ours))
    reader.join(timeout=10)
    theirs.close()
    alive = reader.is_alive()
    if not alive:
        ours.close()
    assert not alive and got == [b""]


async def test_a_board_wide_flood_is_drawn_column_by_column_and_ends_consistent() -> None:
    from gastown.tui.screens.board import BoardScreen
    from gastown.tui.state import STATUSES
    from tests.test_tui import ids

    fake = town(50)
    app = make_app(fake, start="board")
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and app.history_loaded and app.state.mail and app.state.convoys
                    and ids(app, "open") and not app.flush_due, what="the board and the rest loaded and drawn")
        board = app.page("board")
        assert isinstance(board, BoardScreen)
        steps: list[str] = []
        step = board._next_column

        def spy() -> None:
            steps.append(board.queued[0] if board.queued else "")
            step()
        board._next_column = spy  # type: ignore[method-assign]
        seen = app.state.events_seen
        for i in range(25):  # every column loses and gains beads in one flush
            fake.move(f"gt-{i:05d}", STATUSES[(i + 1) % 5])

        def drawn() -> bool:
            return app.state.events_seen >= seen + 25 and not board.queued and not app.flush_due and all(
                ids(app, s) == [r["id"] for r in app.state.board.column(s)] for s in STATUSES)
        await until(pilot, drawn, what="every column drawn from the state")
        assert len([s for s in steps if s]) >= 2  # a column per frame, not the whole board in one
