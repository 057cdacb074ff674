"""One line under the header naming every page and its key, the current one highlighted:
the pages are visible without crowding the footer (which keeps `? help` and `q quit`)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

PAGES = (("o", "overview", "overview"), ("b", "board", "board"), ("m", "mq", "merge queue"),
         ("c", "convoys", "convoys"), ("e", "escalations", "escalations"), ("i", "mail", "inbox"),
         ("y", "chat", "mayor"), ("$", "costs", "costs"))


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, page: str) -> None:
        super().__init__(self.line(page), id="nav")

    @staticmethod
    def line(page: str) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for key, name, title in PAGES:
            current = name == page
            text.append(f"{key}", style="bold reverse" if current else "bold")
            text.append(f" {title}", style="bold" if current else "")
            text.append("  ")
        text.append("? help", style="bold")
        return text
