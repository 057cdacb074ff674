"""The command palette (ctrl+p) lists every action and every page, so nothing hides
behind a key one has to know. An action runs on the selection of the screen the palette
was opened from; one that does not apply says so when chosen."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gastown.tui import actions as acts

PAGES = (("overview", "Overview"), ("board", "Board"), ("mq", "Merge queue"), ("convoys", "Convoys"),
         ("escalations", "Escalations"), ("mail", "Inbox"), ("chat", "Mayor"))


class ActionCommands(Provider):
    def _entries(self) -> list[tuple[str, Any, str]]:
        app: Any = self.app
        pick = getattr(self.screen, "subject", None)
        subject = pick() if callable(pick) else None
        out = []
        for a in acts.ACTIONS:
            where = "" if not a.kinds or subject is None else f" — {subject.describe()}" if a.applies(subject) \
                else " (not for the selection)"
            out.append((f"{a.title}{where}", partial(app.start_action, a, subject),
                        f"key {acts.key_label(a.key)}"))
        out += [(f"Go to {title}", partial(app.action_show, name), "page") for name, title in PAGES]
        out.append(("Key help", app.action_help, "key ?"))
        return out

    async def discover(self) -> Hits:
        for text, command, help_ in self._entries():
            yield DiscoveryHit(text, command, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_ in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, help=help_)
