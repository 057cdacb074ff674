"""Event fan-out to subscribed connections.

A subscriber is a cursor into the town's `bead_events` (seq), not a queue: its pusher
task reads whatever is past its cursor in pages and sends it, then waits to be poked.
Bursts coalesce into pages by construction, a slow client only lags (it can never make
the daemon buffer without bound), and `since=` replay is the same code path as live.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gastown.protocol import NOTIFY_EVENT, notification

if TYPE_CHECKING:
    from gastown.daemon.edge.server import Connection
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.edge.hub")
PAGE = 500


class Subscription:
    def __init__(self, town: "Town", conn: "Connection", since: int) -> None:
        self.town = town
        self.conn = conn
        self.cursor = since
        self.wake = asyncio.Event()
        self.wake.set()
        self.task: asyncio.Task[None] | None = None

    async def pump(self) -> None:
        store = self.town.store
        while not self.conn.closed:
            await self.wake.wait()
            self.wake.clear()
            while store.last_seq > self.cursor and not self.conn.closed:
                events = await self.town.call(store.events_since, self.cursor, PAGE)
                if not events:
                    break
                for ev in events:
                    await self.conn.send(notification(NOTIFY_EVENT, {"town": self.town.name, **ev}))
                self.cursor = events[-1]["seq"]


class Hub:
    def __init__(self) -> None:
        self.subs: dict[str, dict["Connection", Subscription]] = {}

    def subscribe(self, town: "Town", conn: "Connection", since: int) -> None:
        self.unsubscribe(town.name, conn)
        sub = Subscription(town, conn, since)
        sub.task = asyncio.get_running_loop().create_task(self._run(sub))
        self.subs.setdefault(town.name, {})[conn] = sub

    async def _run(self, sub: Subscription) -> None:
        try:
            await sub.pump()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("subscription pump failed")

    def unsubscribe(self, town: str, conn: "Connection") -> bool:
        sub = self.subs.get(town, {}).pop(conn, None)
        if sub and sub.task:
            sub.task.cancel()
        return sub is not None

    def poke(self, town: "Town") -> None:
        """Called after any call on a town: wake its subscribers if anything was written."""
        for sub in self.subs.get(town.name, {}).values():
            if town.store.last_seq > sub.cursor:
                sub.wake.set()

    def drop(self, conn: "Connection") -> None:
        for town in list(self.subs):
            self.unsubscribe(town, conn)

    async def close_town(self, town: str) -> None:
        for sub in list(self.subs.pop(town, {}).values()):
            if sub.task:
                sub.task.cancel()
                await asyncio.gather(sub.task, return_exceptions=True)

    async def close(self) -> None:
        for town in list(self.subs):
            await self.close_town(town)

    def stats(self) -> dict[str, Any]:
        return {t: len(s) for t, s in self.subs.items()}
