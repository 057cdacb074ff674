"""Console output without importing rich when plain text is all rich would print.

Importing rich's console and table costs more than a whole `gt` round trip to the daemon,
yet most of what `gt` prints is a plain line or, piped or captured, a plain table. `Console`
here writes exactly what rich would for those cases and hands everything else (markup,
emoji codes, control characters, wide characters, a terminal's bold headers, a table wider
than the screen, any other renderable) to a real rich Console, created on first use.
"""

from __future__ import annotations

import os
import re
import sys
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any, Sequence, TextIO

_EMOJI = re.compile(r":(\S*?)(?:-(?:emoji|text))?:")
_SAFE = frozenset(chr(c) for c in range(32, 127))


def _plain(text: str, markup: bool) -> bool:
    """True if rich would print `text` unchanged: printable ASCII, no markup it would parse,
    nothing that could be an emoji code (only digit groups, as in a time, pass)."""
    if not _SAFE.issuperset(text) or (markup and "[" in text):
        return False
    return all(m.group(1).isdigit() and m.group(1) not in ("100", "1234") for m in _EMOJI.finditer(text))


class Console:
    """The subset of rich.Console that `gt` uses, rich itself only when needed."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self._rich: Any = None

    @property
    def file(self) -> TextIO:
        return sys.stderr if self.stderr else sys.stdout

    @property
    def rich(self) -> Any:
        """The real rich Console (highlight off, soft wrap on), built on first use."""
        if self._rich is None:
            from rich.console import Console as RichConsole

            self._rich = RichConsole(stderr=self.stderr, highlight=False, soft_wrap=True)
        return self._rich

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)

    def print(self, *objects: Any, markup: bool = True, **kwargs: Any) -> None:
        if len(objects) == 1 and not kwargs and isinstance(objects[0], str) and "\n" not in objects[0] \
                and _plain(objects[0], markup):
            self.file.write(objects[0] + "\n")
            return
        self.rich.print(*objects, markup=markup, **kwargs)

    def _is_terminal(self) -> bool:
        if os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
            return True  # rich decides (it may style the header)
        try:
            return self.file.isatty()
        except ValueError:
            return False

    def _width(self) -> int | None:
        """The width rich would lay a table out in (None: a case left to rich)."""
        columns = os.environ.get("COLUMNS")
        if columns is not None:
            return int(columns) if columns.isdigit() and int(columns) > 0 else None
        for fd in (0, 1, 2):
            try:
                width = os.get_terminal_size(fd).columns
            except (AttributeError, ValueError, OSError):
                continue
            return width or 80
        return 80

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """rich's Table(box=None, pad_edge=False, header_style="bold") of strings."""
        width = None if self._is_terminal() else self._width()
        cells = [list(headers), *[list(r) for r in rows]]
        if width is not None and all(_plain(c, True) for row in cells for c in row):
            widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
            if sum(widths) + 2 * (len(widths) - 1) <= width:
                self.file.write("".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "\n" for row in cells))
                return
        from rich.table import Table

        t = Table(box=None, pad_edge=False, header_style="bold")
        for header in headers:
            t.add_column(header)
        for row in rows:
            t.add_row(*row)
        self.rich.print(t)
