"""The footer every page shows, recomposed only when the keys it shows change.

Textual's `Footer` recomposes on every focus change: it removes and mounts all its keys,
which restyles them, relayouts the screen and repaints all of it. On the board, moving
between five columns with the same keys paid that on every left/right press (most of a
keypress's cost under a flood of events, see bench/bench_tui.py)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple[object, ...] | None = None
    """What the last compose showed: the active bindings with their enabled state and tooltip."""

    def _keys(self) -> tuple[object, ...]:
        return tuple((binding, enabled, tooltip) for _, binding, enabled, tooltip
                     in self.screen.active_bindings.values())

    def bindings_changed(self, screen: Screen[object]) -> None:
        if (self._bindings_ready and self.is_attached and screen is self.screen
                and self._keys() == self._shown):
            return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        self._shown = self._keys() if self._bindings_ready else None
        yield from super().compose()
