"""A board column: a virtualised list of two-line cards (Line API), so a column of any
length costs only the lines on screen, and replacing its rows is a list assignment.

A card is the title, then `id @assignee · attempt N · age` (dim): a long title never
pushes the assignee off the card, and a narrow column still shows the title (and, on
the second line, `@assignee ↻N age` without the id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gastown.tui.screens.fmt import age

Row = dict[str, Any]
PRIORITY_MARK = {0: "!! ", 1: "! "}
SLACK_LINES = 32
CARD = 2
"""Lines per card."""


class BeadList(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    BeadList { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    BeadList > .bead-list--cursor { background: $accent 30%; }
    BeadList:focus > .bead-list--cursor { background: $accent 70%; text-style: bold; }
    BeadList > .bead-list--id { color: $text-muted; }
    BeadList > .bead-list--meta { color: $text-muted; }
    BeadList > .bead-list--stub { color: $text-disabled; }
    BeadList > .bead-list--failed { color: $error; }
    """
    COMPONENT_CLASSES = {"bead-list--cursor", "bead-list--id", "bead-list--stub", "bead-list--failed",
                         "bead-list--meta"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        Binding("enter", "select", "open", show=True),
        Binding("left", "screen.column(-1)", "column", key_display="←→"),  # not the container's scroll_left
        Binding("right", "screen.column(1)", "column", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)  # lines repaint themselves

    @dataclass
    class Selected(Message):
        bead_id: str

    @dataclass
    class AtEnd(Message):
        """The cursor reached the last row (the app may load more)."""

        status: str

    def __init__(self, status: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.status = status
        self.rows: list[Row] = []
        self._style_key: tuple[object, ...] = ()
        self._styles: dict[tuple[bool, str], Style] = {}
        self._strips: dict[tuple[object, ...], tuple[Strip, Strip]] = {}
        self._looks: dict[tuple[object, ...], dict[tuple[object, ...], tuple[Strip, Strip]]] = {}

    # ------------------------------------------------------------------- data
    def set_rows(self, rows: list[Row]) -> None:
        """Replace the rows, keep the cursor on the same bead, repaint only changed lines."""
        current = self.current_id
        top, height = int(self.scroll_offset.y), self.scrollable_content_region.height
        before = [self._line_key(i) for i in range(top // CARD, (top + height) // CARD + 1)]
        self.rows = rows
        self._fit()
        index = next((i for i, r in enumerate(rows) if r["id"] == current), None) if current else None
        self.set_reactive(BeadList.cursor, min(index if index is not None else self.cursor, max(0, len(rows) - 1)))
        self._scroll_to_cursor()
        if int(self.scroll_offset.y) != top:
            self.refresh()
            return
        for i, key in enumerate(before, start=top // CARD):
            if key != self._line_key(i):
                self.refresh_lines(i * CARD, CARD)

    def _line_key(self, index: int) -> tuple[object, ...] | None:
        if index >= len(self.rows):
            return None
        row = self.rows[index]
        kind = "stub" if row.get("_stub") else "failed" if row.get("failure_reason") else "plain"
        mark = PRIORITY_MARK.get(row.get("priority", 2), "")
        meta: list[tuple[str, str]] = [(f"@{row['assignee']}", f"@{row['assignee']}") if row.get("assignee")
                                       else ("unassigned", "-")]
        if "gt:held" in (row.get("labels") or []):
            meta.insert(0, ("held", "held"))
        if row.get("dispatch_attempts"):
            meta.append((f"attempt {row['dispatch_attempts']}", f"↻{row['dispatch_attempts']}"))
        when = age(row.get("updated_at") or row.get("created_at"))
        if when:
            meta.append((when, when))
        full = " · ".join(m[0] for m in meta)
        return (row["id"], row.get("title"), mark, (full, " ".join(m[1] for m in meta)), kind, index == self.cursor)

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def current_id(self) -> str | None:
        return self.rows[self.cursor]["id"] if 0 <= self.cursor < len(self.rows) else None

    # -------------------------------------------------------------- rendering
    def render_lines(self, crop: Region) -> list[Strip]:
        """Resolve the styles once per paint (they are costly to look up per line) and
        reuse line strips across paints: a flood of events mostly reshuffles rows. One strip
        cache per look (focused or not): moving between columns redraws none of their cards."""
        key = (self.has_focus, self.app.theme, self.rich_style)
        if key != self._style_key:
            base = self.rich_style
            cursor = base + self.get_component_rich_style("bead-list--cursor")
            part = {name: self.get_component_rich_style(f"bead-list--{name}")
                    for name in ("id", "stub", "failed", "meta")}
            self._styles = {(c, k): line + (part[k] if k != "plain" else Style())
                            for c, line in ((False, base), (True, cursor))
                            for k in ("id", "stub", "failed", "meta", "plain")}
            self._style_key = key
            if len(self._looks) >= 4 and key not in self._looks:  # a theme change: start afresh
                self._looks.clear()
            self._strips = self._looks.setdefault(key, {})
        if len(self._strips) > 4000:
            self._strips.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = int(self.scroll_offset.y) + y
        index = line // CARD
        if index >= len(self.rows):
            return Strip.blank(width, self._styles[(False, "plain")])
        key = self._line_key(index)
        assert key is not None
        bead_id, title, mark, meta, kind, is_cursor = key
        strip = self._strips.get((*key, width))
        if strip is None:
            strip = self._strips[(*key, width)] = self._card(str(bead_id), f"{mark}{title or ''}", meta,  # type: ignore[arg-type]
                                                             str(kind), bool(is_cursor), width)
        return strip[line % CARD]

    def _card(self, bead_id: str, rest: str, meta: tuple[str, str], kind: str, is_cursor: bool,
              width: int) -> tuple[Strip, Strip]:
        """The title gets the whole first line (narrow columns still show it); the id leads the second."""
        title = rest if len(rest) <= width else rest[: max(0, width - 1)] + "…"
        first = Strip([Segment(title.ljust(width), self._styles[(is_cursor, kind)])], width)
        full, compact = meta
        head = f"{bead_id} "
        if len(head) + len(full) > width:  # narrow: the assignee first, the id is in the drawer
            head, full = ("", compact) if len(head) + len(compact) > width else (head, compact)
        head = head[:width]
        tail = full[: max(0, width - len(head))].ljust(width - len(head))
        second = Strip([Segment(head, self._styles[(is_cursor, "id")]),
                        Segment(tail, self._styles[(is_cursor, "meta")])], width)
        return first, second

    def _fit(self, force: bool = False) -> None:
        """Size the scrollable area with some slack. `virtual_size` is a layout-changing
        reactive, and a relayout repaints the whole screen, which a flood of events that
        only reshuffles rows must not cause on every redraw: while the scrollbar stays as
        it is (shown, or not), the new size only resizes its thumb, without a relayout."""
        height, rows = self.virtual_size.height, len(self.rows) * CARD
        if not (force or rows > height or rows < height - 2 * SLACK_LINES):
            return
        size = Size(0, rows + (SLACK_LINES if rows > self.size.height else 0))
        view = self.container_size.height
        if force or not view or (height > view) != (size.height > view):
            self.virtual_size = size
        else:
            self.set_reactive(BeadList.virtual_size, size)
            self._scroll_update(size)  # the scrollbar's thumb and the scroll offset's bounds

    def on_resize(self, event: events.Resize) -> None:
        self._fit(force=True)

    # ---------------------------------------------------------------- actions
    def watch_cursor(self, old: int, new: int) -> None:
        if self.rows:
            top = int(self.scroll_offset.y)
            self._scroll_to_cursor()
            if int(self.scroll_offset.y) == top:
                self.refresh_lines(old * CARD, CARD)
                self.refresh_lines(new * CARD, CARD)

    def _scroll_to_cursor(self) -> None:
        self.scroll_to_region(Region(0, self.cursor * CARD, 1, CARD), animate=False, immediate=True)

    def move_to(self, index: int) -> None:
        """A move by the user; reaching the last row asks for more."""
        if not self.rows:
            return
        self.cursor = max(0, min(len(self.rows) - 1, index))
        if self.cursor == len(self.rows) - 1:
            self.post_message(self.AtEnd(self.status))

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height // CARD - 1))

    def action_jump(self, where: int) -> None:
        self.move_to(0 if where == 0 else len(self.rows) - 1)

    def action_select(self) -> None:
        if self.current_id:
            self.post_message(self.Selected(self.current_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = (int(self.scroll_offset.y) + offset.y) // CARD
        if 0 <= index < len(self.rows):
            self.move_to(index)
            if event.chain >= 2:
                self.action_select()
