"""The base of the three pages: redraw from the app's state when told, or on resume if a
change arrived while another page was showing."""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.screen import Screen

from gastown.tui.state import Changes, TownState


class Page(Screen[None]):
    stale = True

    def update_view(self, state: TownState, changes: Changes) -> None:
        """Called by the app after each batch (attributes down)."""
        if not self.is_mounted or self not in self.app.screen_stack:
            self.stale = True
            return
        full = self.stale
        self.stale = False
        self._redraw(state, None if full else changes)

    def on_screen_resume(self) -> None:
        if self.stale:
            self.stale = False
            self._redraw(self.app.state, None)  # type: ignore[attr-defined]

    def _redraw(self, state: TownState, changes: Changes | None) -> None:
        try:
            self.redraw(state, changes)
        except NoMatches:  # composing, or being torn down at exit: draw in full next time
            self.stale = True

    def redraw(self, state: TownState, changes: Changes | None) -> None:
        """`changes` None: draw everything."""
        raise NotImplementedError
