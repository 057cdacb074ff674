"""The dashboard application: owns the daemon handle, the town state and the screen stack.

Data flow: ONE thread worker streams daemon events into an inbox and posts `EventsArrived`
(at most one pending); the handler applies the whole inbox to `TownState` and redraws at
most every `FLUSH_S`. Snapshots (board, agents, merge queue) load in thread workers that
post `Loaded`. Screens and drawers post `Open*` / `FilterChanged` up; the app pushes state down.
"""

from __future__ import annotations

import time
from collections import deque
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any, Iterable

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.timer import Timer
from textual.worker import get_current_worker

if TYPE_CHECKING:
    from textual.command import Provider

from gastown.protocol import ErrorCode, Method, RpcError
from gastown.tui import messages as m
from gastown.tui.acting import Acting, bindings
from gastown.tui.talking import Talking
from gastown.tui.actions import Subject
from gastown.tui.remote import ClientLike, Connect, Remote, is_disconnect
from gastown.tui.screens.page import Page
from gastown.tui.state import FEED, STATUSES, WINDOW, Changes, TownState

FLUSH_S = (0.1, 1.0)
"""Redraw after events at most this often; under load back off towards the second value:
in proportion to the event rate (FLOOD_RATE events/s and more: the slowest), and further
while the event loop lags behind the flush timer (painting costs more than the budget)."""
FLOOD_RATE = 1000.0
LAG_S = 0.05
BACKOFF = (0.5, 10.0)
"""Reconnect delays: first, then doubling up to the second."""
BATCH = 500
"""Events applied per message: a longer inbox goes on in the next message, after any key
that arrived meanwhile (a keypress never waits behind more than one batch)."""
LOADS = ("town", "board", "agents", "mq", "convoys", "escalations", "mail", "mayor")
"""The snapshots the app keeps (the costs page loads when shown)."""
RELOAD_S = 0.5
"""Throttle for reloads events ask for (agents, merge queue, counts, stub beads)."""
FETCH_BATCH = 50
BASE_SCREENS: dict[str, str] = {
    "overview": "overview:OverviewScreen", "board": "board:BoardScreen", "mq": "mq:MergeQueueScreen",
    "convoys": "convoys:ConvoysScreen", "escalations": "escalations:EscalationsScreen", "mail": "mail:MailScreen",
    "chat": "chat:ChatScreen", "costs": "costs:CostsScreen"}
"""The pages, as `module:class` under gastown.tui.screens: each is imported and built when
first shown (or asked for), so starting the dashboard pays only for the first page. The
drawers, dialogs and the command palette's provider load the same way, when first opened."""


FIRST_LOADS = {"overview": ("town", "agents", "mq"), "board": ("town", "board"), "mq": ("town", "mq")}
"""What the start page's first paint needs. On the first connect these load alone; the rest
(other pages' data, the activity history) once they are painted: loads share one socket
and, in threads, the interpreter with the painting."""


def _action_commands() -> type[Provider]:
    from gastown.tui.palette import ActionCommands

    return ActionCommands


class GastownApp(Acting, Talking, App[None]):
    CSS_PATH = "gastown.tcss"
    TITLE = "Gastown"
    COMMANDS = App.COMMANDS | {_action_commands}
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("o", "show('overview')", "overview", show=False),
        Binding("b", "show('board')", "board", show=False),
        Binding("m", "show('mq')", "merge queue", show=False),
        Binding("c", "show('convoys')", "convoys", show=False),
        Binding("e", "show('escalations')", "escalations", show=False),
        Binding("i", "show('mail')", "inbox", show=False),
        Binding("y", "show('chat')", "mayor", show=False),
        Binding("dollar_sign", "show('costs')", "costs", show=False),
        Binding("r", "reload", "refresh", show=False),
        *bindings(""),
    ]

    def __init__(self, client: ClientLike, connect: Connect | None = None, start: str = "overview") -> None:
        super().__init__()
        self.remote = Remote(client, connect)
        self.state = TownState()
        self.start = start if start in BASE_SCREENS else "overview"
        self.pages: dict[str, Page] = {}
        """The pages built so far (see BASE_SCREENS)."""
        self.awaiting: set[str] = set()
        """The first paint's loads still on their way (FIRST_LOADS)."""
        self.rest: list[str] = []
        """What loads once they have been painted."""
        self.rest_after_flush = False
        self.history_upto = 0
        """The first subscription's seq: the history loads events up to it, the stream after it."""
        self.inbox: deque[dict[str, Any]] = deque()
        self.posted = False
        self.seq: int | None = None
        self.connected = False
        self.history_loaded = False  # the activity panes got the recent past (town.feed)
        self.dirty = Changes()
        self.touched: set[str] = set()
        self.flush_due = False
        self.flush_at = 0.0
        self.flush_timer: Timer | None = None
        self.flush_interval = FLUSH_S[0]
        self.events_since_flush = 0
        self.last_flush = 0.0
        self.scheduled: set[str] = set()
        self.fetch_queue: set[str] = set()
        self.batches = 0
        self.loading_more: set[str] = set()

    # ------------------------------------------------------------------ life
        self.actions_done: list[tuple[str, list[Any], list[Any]]] = []
        self.looking_at: Subject | None = None
        """The last selection on a page other than the Mayor's: it travels with Mayor messages."""

    def on_mount(self) -> None:
        self.push_screen(self.page(self.start))
        self.sub_title = "connecting…"
        self.stream_events()
        if self.start == "board":  # early, for the first paint; loaded again once the event stream is up
            self.load_board()

    def on_unmount(self) -> None:
        self.remote.close()

    def action_show(self, name: str) -> None:
        """Close every drawer, then show the page (stack changes are synchronous; the
        returned awaitables run on their own, awaiting them inside an action deadlocks)."""
        self.remember_subject()
        if len(self.screen_stack) > 1:
            from gastown.tui.screens.drawers import Drawer

            while isinstance(self.screen, Drawer):
                self.pop_screen()
        page = self.page(name)
        if self.screen is not page:
            self.switch_screen(page)

    def page(self, name: str) -> Page:
        """The page `name`, built and installed on first use."""
        page = self.pages.get(name)
        if page is None:
            module, cls = BASE_SCREENS[name].split(":")
            page = self.pages[name] = getattr(import_module(f"gastown.tui.screens.{module}"), cls)()
            self.install_screen(page, name)
        return page

    def action_reload(self) -> None:
        self.load_all()

    # ---------------------------------------------------------------- events
    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def stream_events(self) -> None:
        worker = get_current_worker()
        delay, first = BACKOFF[0], True
        while not worker.is_cancelled and not self.remote.closed:
            conn = None
            try:
                conn = self.remote.open_stream()
                sub = conn.call(Method.EVENTS_SUBSCRIBE, since=self.seq)
                if self.seq is None:
                    self.seq = int((sub or {}).get("seq") or 0)
                self.post_message(m.StreamUp(self.seq, first))
                first, delay = False, BACKOFF[0]
                for ev in conn.events(since=self.seq):
                    if worker.is_cancelled:
                        return
                    seq = ev.get("seq")
                    if isinstance(seq, int):
                        if seq <= self.seq:
                            continue  # replayed twice across a resubscribe
                        self.seq = seq
                    self.inbox.append(ev)
                    if not self.posted:
                        self.posted = True
                        self.post_message(m.EventsArrived())
                raise RpcError(ErrorCode.UNAVAILABLE, "the event stream ended")
            except Exception as exc:
                if worker.is_cancelled or self.remote.closed:
                    return
                self.post_message(m.StreamDown(str(exc), delay))
                worker.cancelled_event.wait(delay)
                delay = min(delay * 2, BACKOFF[1])
            finally:
                if conn is not None:
                    self.remote.close_stream(conn)

    def on_stream_up(self, msg: m.StreamUp) -> None:
        if not msg.first and not self.connected:
            self.notify("Reconnected to the daemon.", title="gastown")
        self.connected = True
        if not msg.first or self.start not in FIRST_LOADS:
            self.load_all(history=msg.seq if msg.first else None)
            return
        first = FIRST_LOADS[self.start]
        self.awaiting = set(first)
        self.rest = [what for what in LOADS if what not in first]
        self.history_upto = msg.seq
        self.load_all(first)

    def on_stream_down(self, msg: m.StreamDown) -> None:
        if self.connected or msg.retry_in == BACKOFF[0]:
            self.notify(f"Lost the daemon ({msg.error}); retrying with backoff.", title="gastown",
                        severity="warning")
        self.connected = False
        self._subtitle()

    def on_events_arrived(self, msg: m.EventsArrived) -> None:
        self.posted = False
        batch: list[dict[str, Any]] = []
        while self.inbox and len(batch) < BATCH:
            batch.append(self.inbox.popleft())
        if self.inbox and not self.posted:
            self.posted = True
            self.post_message(m.EventsArrived())
        if not batch:
            return
        self.batches += 1
        self.events_since_flush += len(batch)
        self._merge(self.state.apply(batch))
        self.touched.update(e["bead_id"] for e in batch if e.get("bead_id"))
        self.touched.update(e["metadata"]["agent"] for e in batch if (e.get("metadata") or {}).get("agent"))
        self._schedule_flush()

    def _merge(self, changes: Changes) -> None:
        d = self.dirty
        d.columns |= changes.columns
        d.agents |= changes.agents
        d.mq |= changes.mq
        d.counts |= changes.counts
        d.reload_agents |= changes.reload_agents
        d.reload_mq |= changes.reload_mq
        d.reload_counts |= changes.reload_counts
        d.feed.extend(changes.feed)
        del d.feed[:-FEED]
        d.activity.extend(changes.activity)
        d.fetch |= changes.fetch
        d.pages |= changes.pages
        d.reload |= changes.reload
        d.at_once |= changes.at_once

    def _schedule_flush(self, soon: bool = False) -> None:
        """Redraw once the event throttle allows; `soon`: on the next frame (a board snapshot,
        which people wait for: the first paint, a filter, "load more"; rare by nature)."""
        now = time.monotonic()
        wait = 0.0 if soon else max(0.0, self.last_flush + self.flush_interval - now)
        if self.flush_due:
            if self.flush_at <= now + wait or self.flush_timer is None:
                return
            self.flush_timer.stop()
        self.flush_due = True
        self.flush_at = now + wait
        self.flush_timer = self.set_timer(max(wait, 0.001), self.flush)  # a zero delay divides by zero in Timer

    def flush(self) -> None:
        """Push what changed down to the screens and drawers, then ask for what is missing."""
        now = time.monotonic()
        lag = now - self.flush_at
        low, high = FLUSH_S
        rate = self.events_since_flush / max(now - self.last_flush, low)
        lagged = min(high, self.flush_interval * 1.5) if lag > LAG_S else self.flush_interval * 0.8
        self.flush_interval = max(low, min(high, max(lagged, rate / FLOOD_RATE)))
        self.events_since_flush = 0
        self.flush_due = False
        self.last_flush = now
        if not self.is_running:
            return
        changes, self.dirty = self.dirty, Changes()
        touched, self.touched = self.touched, set()
        for page in list(self.pages.values()):
            page.update_view(self.state, changes)
        if len(self.screen_stack) > 1:
            from gastown.tui.screens.drawers import Drawer

            for screen in self.screen_stack:
                if isinstance(screen, Drawer):
                    screen.touched(touched)
        if changes.fetch:
            self.fetch_queue |= changes.fetch
            self.want("beads")
        for flag, what in ((changes.reload_agents, "agents"), (changes.reload_mq, "mq"),
                           (changes.reload_counts, "town")):
            if flag:
                self.want(what)
        for what in changes.reload:
            self.want(what)
        self._subtitle()
        if self.rest_after_flush:
            self.rest_after_flush = False
            rest, self.rest = self.rest, []
            self.call_after_refresh(partial(self.load_all, rest, self.history_upto))

    def _subtitle(self) -> None:
        """Only on a change: a new sub-title relayouts the header, which repaints the screen.
        Unacknowledged escalations show there; a high or critical one turns the header red."""
        live = "● live" if self.connected else "○ reconnecting"
        text = f"town {self.state.town or '?'} · {live}"
        count, severe = self.state.unacknowledged()
        if count:
            text += f" · ⚠ {count} escalation{'s' if count != 1 else ''} (e)"
        if self.sub_title != text:
            self.sub_title = text
        if self.has_class("-escalated") != severe:
            self.set_class(severe, "-escalated")

    # ----------------------------------------------------------------- loads
    def want(self, what: str) -> None:
        """Load `what` soon, at most once per RELOAD_S whatever the event rate."""
        if what in self.scheduled:
            return
        self.scheduled.add(what)
        self.set_timer(RELOAD_S, partial(self._load_now, what))

    def _load_now(self, what: str) -> None:
        self.scheduled.discard(what)
        if what == "beads":
            ids = sorted(self.fetch_queue)[:FETCH_BATCH]
            self.fetch_queue.difference_update(ids)
            self.fetch_queue = set(sorted(self.fetch_queue)[:500])
            if ids:
                self.load_beads(ids)
            if self.fetch_queue:
                self.want("beads")
        else:
            {"agents": self.load_agents, "mq": self.load_mq, "town": self.load_town, "convoys": self.load_convoys,
             "escalations": self.load_escalations, "mail": self.load_mail, "mayor": self.load_mayor,
             "costs": self.load_costs}[what]()

    def load_all(self, only: Iterable[str] = LOADS, history: int | None = None) -> None:
        """Load `only` these (LOADS names); with `history` (the first subscription's seq), the
        activity panes' recent past too."""
        loaders = {"town": self.load_town, "board": self.load_board, "agents": self.load_agents, "mq": self.load_mq,
                   "convoys": self.load_convoys, "escalations": self.load_escalations, "mail": self.load_mail,
                   "mayor": self.load_mayor}
        for what in only:
            loaders[what]()
        if history is not None:
            self.load_history(history)

    def _arrived(self, what: str) -> None:
        """A first-paint load arrived (or failed): after the last, the rest follows the flush's paint."""
        if what in self.awaiting:
            self.awaiting.discard(what)
            self.rest_after_flush = not self.awaiting

    def _post_load(self, what: str, fn: Any, *args: Any, **extra: Any) -> None:
        worker = get_current_worker()
        try:
            data = fn(*args)
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(m.LoadFailed(what, _message(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(m.Loaded(what, data, extra))

    @work(thread=True, exclusive=True, group="load-history", exit_on_error=False)
    def load_history(self, upto: int) -> None:
        """The activity panes start with the town's recent past (town.feed), then go live."""
        self._post_load("history", lambda: self.remote.call(Method.TOWN_FEED, limit=200)["events"], upto=upto)

    @work(thread=True, exclusive=True, group="load-town", exit_on_error=False)
    def load_town(self) -> None:
        self._post_load("town", lambda: self.remote.call(Method.TOWN_SHOW))

    @work(thread=True, exclusive=True, group="load-board", exit_on_error=False)
    def load_board(self, statuses: Iterable[str] = STATUSES) -> None:
        board = self.state.board
        flt, limits = board.filter, dict(board.limits)

        def fetch() -> dict[str, list[dict[str, Any]]]:
            return {s: self.remote.call(Method.BEAD_LIST, status=s, type=flt.type, rig=flt.rig, limit=limits[s])
                    for s in statuses}
        self._post_load("board", fetch, rig=flt.rig, type=flt.type)

    @work(thread=True, exclusive=True, group="load-agents", exit_on_error=False)
    def load_agents(self) -> None:
        self._post_load("agents", lambda: self.remote.call(Method.AGENT_LIST))

    @work(thread=True, exclusive=True, group="load-mq", exit_on_error=False)
    def load_mq(self) -> None:
        self._post_load("mq", lambda: (self.remote.call(Method.MQ_LIST),
                                       self.remote.call(Method.BEAD_LIST, type="escalation", limit=200)))

    @work(thread=True, exclusive=True, group="load-convoys", exit_on_error=False)
    def load_convoys(self) -> None:
        self._post_load("convoys", lambda: self.remote.call(Method.CONVOY_LIST))

    @work(thread=True, exclusive=True, group="load-escalations", exit_on_error=False)
    def load_escalations(self) -> None:
        self._post_load("escalations", lambda: self.remote.call(Method.ESCALATION_LIST, all=True))

    @work(thread=True, exclusive=True, group="load-mail", exit_on_error=False)
    def load_mail(self) -> None:
        self._post_load("mail", lambda: self.remote.call(Method.MAIL_INBOX, box="human"))

    @work(thread=True, exclusive=True, group="load-mayor", exit_on_error=False)
    def load_mayor(self) -> None:
        self._post_load("mayor", lambda: self.remote.call(Method.MAYOR_HISTORY, limit=50))

    @work(thread=True, exclusive=True, group="load-costs", exit_on_error=False)
    def load_costs(self) -> None:
        """The costs page's data: the flow gauges of the last day and every budget."""
        self._post_load("costs", lambda: (self.remote.call(Method.STATS), self.remote.call(Method.BUDGET_SHOW)))

    @work(thread=True, group="load-beads", exit_on_error=False)
    def load_beads(self, ids: list[str]) -> None:
        def fetch() -> list[dict[str, Any]]:
            out = []
            for bead_id in ids:
                try:
                    out.append(self.remote.call(Method.BEAD_SHOW, id=bead_id))
                except RpcError as exc:
                    if exc.code != ErrorCode.NOT_FOUND:
                        raise
            return out
        self._post_load("beads", fetch)

    def on_loaded(self, msg: m.Loaded) -> None:
        self._arrived(msg.what)
        state, changes = self.state, Changes()
        if msg.what == "town":
            state.set_town(msg.data)
            changes.counts = changes.agents = True  # headings and counters; the rows did not change
        elif msg.what == "board":
            flt = state.board.filter
            if (msg.extra.get("rig"), msg.extra.get("type")) != (flt.rig, flt.type):
                return  # the filter moved on while this loaded
            self.loading_more.difference_update(msg.data)
            for rows in msg.data.values():
                state.remember_types(rows)
            state.board.load(msg.data)
            changes.columns.update(msg.data)
            changes.at_once = True
        elif msg.what == "agents":
            state.set_agents(msg.data)
            changes.agents = True
        elif msg.what == "history":
            state.preload(msg.data, int(msg.extra.get("upto") or 0))
            for page in self.pages.values():  # drawn in full on the next flush (unbuilt pages start so)
                page.stale = True
            self.history_loaded = True
        elif msg.what == "mq":
            mrs, escalations = msg.data
            state.set_mq(mrs, escalations)
            state.remember_types(escalations)
            changes.mq = changes.agents = True
        elif msg.what == "beads":
            state.remember_types(msg.data)
            for row in msg.data:
                if state.board.filter.type in (None, row.get("type")):
                    changes.columns |= state.board.upsert(row)
        elif msg.what == "convoys":
            state.set_convoys(msg.data)
            changes.pages.add("convoys")
        elif msg.what == "escalations":
            state.set_escalations(msg.data)
            changes.pages.add("escalations")
        elif msg.what == "mail":
            state.set_mail(msg.data)
            changes.pages.add("mail")
            self.want("mayor")  # a message to or from the Mayor (from any client) joins the chat
        elif msg.what == "mayor":
            state.mayor_history = list(msg.data)
            changes.pages.add("chat")
        elif msg.what == "costs":
            state.stats, state.budgets = msg.data
            changes.pages.add("costs")
        self._merge(changes)
        self._schedule_flush(soon=msg.what == "board")

    def on_load_failed(self, msg: m.LoadFailed) -> None:
        self._arrived(msg.what)
        self._schedule_flush()
        if msg.what == "board":
            self.loading_more.clear()
        if self.connected:
            self.notify(f"Could not load {msg.what}: {msg.error}", severity="error", title="gastown")

    # ---------------------------------------------------------- navigation
    @on(m.OpenBead)
    def open_bead(self, msg: m.OpenBead) -> None:
        from gastown.tui.screens.drawers import BeadDrawer

        self.push_screen(BeadDrawer(msg.bead_id))

    @on(m.OpenAgent)
    def open_agent(self, msg: m.OpenAgent) -> None:
        from gastown.tui.screens.agent import AgentDrawer

        self.push_screen(AgentDrawer(msg.name))

    @on(m.OpenMergeRequest)
    def open_mr(self, msg: m.OpenMergeRequest) -> None:
        from gastown.tui.screens.drawers import MergeRequestDrawer

        self.push_screen(MergeRequestDrawer(msg.mr_id))

    @on(m.OpenConvoy)
    def open_convoy(self, msg: m.OpenConvoy) -> None:
        from gastown.tui.screens.drawers import ConvoyDrawer

        self.push_screen(ConvoyDrawer(msg.convoy_id))

    @on(m.OpenMail)
    def open_mail(self, msg: m.OpenMail) -> None:
        from gastown.tui.screens.drawers import MailDrawer

        self.push_screen(MailDrawer(msg.mail_id))
        self.want("mail")  # reading marks it read

    @on(m.AckEscalation)
    def ack_escalation(self, msg: m.AckEscalation) -> None:
        self.acknowledge(msg.escalation_id)

    @on(m.ApproveStep)
    def approve_step(self, msg: m.ApproveStep) -> None:
        self.approve(msg.bead_id)

    @work(thread=True, group="approve", exit_on_error=False)
    def approve(self, bead_id: str) -> None:
        try:
            self.remote.call(Method.BEAD_APPROVE, id=bead_id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"Could not approve {bead_id}: {_message(exc)}", severity="error",
                                  title="gastown")
            return
        self.call_from_thread(self.notify, f"{bead_id} approved", timeout=2)
        reload = getattr(self.screen, "action_reload", None)
        if reload is not None:
            self.call_from_thread(reload)

    @work(thread=True, group="ack", exit_on_error=False)
    def acknowledge(self, esc_id: str) -> None:
        try:
            self.remote.call(Method.ESCALATION_ACK, id=esc_id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"Could not acknowledge {esc_id}: {_message(exc)}", severity="error",
                                  title="gastown")
            return
        self.call_from_thread(self.notify, f"{esc_id} acknowledged", timeout=2)
        self.call_from_thread(self.load_escalations)

    @on(m.FilterChanged)
    def filter_changed(self, msg: m.FilterChanged) -> None:
        board = self.state.board
        reload = (msg.rig, msg.type) != (board.filter.rig, board.filter.type)
        board.filter.rig, board.filter.type, board.filter.text = msg.rig, msg.type, msg.text
        board.filter.convoy = msg.convoy
        if reload:
            board.rows.clear()
            board.limits = {s: WINDOW for s in STATUSES}
            self.load_board()
        if self.is_running:
            self.page("board").update_view(self.state, Changes(columns=set(STATUSES), at_once=True))

    @on(m.LoadMore)
    def load_more(self, msg: m.LoadMore) -> None:
        board = self.state.board
        if board.truncated.get(msg.status) and msg.status not in self.loading_more:
            self.loading_more.add(msg.status)
            board.limits[msg.status] += WINDOW
            self.load_board([msg.status])


def _message(exc: BaseException) -> str:
    if isinstance(exc, RpcError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if not is_disconnect(exc) else f"daemon unreachable ({exc})"


def make_app(client: ClientLike, *, connect: Connect | None = None, start: str = "overview") -> GastownApp:
    """The dashboard on `client` (a `gastown.client.Client` or a fake with `call`/`events`).

    `connect(timeout)` opens further connections: the event stream's and the ones that replace
    a connection the daemon dropped. Without it, `client` serves both (fakes)."""
    return GastownApp(client, connect, start)
