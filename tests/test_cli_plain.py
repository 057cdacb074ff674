"""gastown.cli.plain prints exactly what rich would (it only skips importing rich)."""

from __future__ import annotations

import io
import random
import sys

import pytest
from rich.console import Console as RichConsole
from rich.table import Table

from gastown.cli.plain import Console

TEXTS = [":smile: hi", "2026-11-30T05:15:33Z", "x :100: y", "a:b:c", "tab\there", "[bold]x[/]", "", "café",
         "ctl\x07", "two\nlines", "slung gt-1 [open] title -> rig app"]


def _capture(fn: object, monkeypatch: pytest.MonkeyPatch) -> str:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    fn()  # type: ignore[operator]
    return buf.getvalue()


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("markup", [True, False])
def test_print_matches_rich(text: str, markup: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _capture(lambda: Console().print(text, markup=markup), monkeypatch)
    theirs = _capture(lambda: RichConsole(highlight=False, soft_wrap=True).print(text, markup=markup), monkeypatch)
    assert mine == theirs


def _rich_table(headers: list[str], rows: list[list[str]]) -> None:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for h in headers:
        t.add_column(h)
    for r in rows:
        t.add_row(*r)
    RichConsole(highlight=False, soft_wrap=True).print(t)


@pytest.mark.parametrize("columns", [None, "80", "30"])
def test_table_matches_rich(columns: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded random tables, narrow and wide, plain and not (wide characters, tabs, emoji
    codes, times): the fast path and the fallback both print rich's bytes."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(var, raising=False)
    rnd = random.Random(14)
    alpha = "abc XYZ-_.0123:/(é\t"
    for _ in range(300):
        n = rnd.randint(1, 5)
        headers = [rnd.choice(["ID", "STATUS", "TITLE", "SENT"]) for _ in range(n)]
        rows = [["".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 25))) for _ in range(n)]
                for _ in range(rnd.randint(1, 4))]
        assert _capture(lambda: Console().table(headers, rows), monkeypatch) == \
            _capture(lambda: _rich_table(headers, rows), monkeypatch)
