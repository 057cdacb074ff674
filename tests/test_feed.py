"""`gt feed`: town activity in words, `--since` a duration or a time, `--json`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gastown import feed
from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("90s", datetime(2026, 11, 30, 11, 58, 30, tzinfo=timezone.utc)),
    ("1h", datetime(2026, 11, 30, 11, 0, 0, tzinfo=timezone.utc)),
    ("2d", datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)),
    ("2026-11-30T10:15:00Z", datetime(2026, 11, 30, 10, 15, 0, tzinfo=timezone.utc)),
])
def test_parse_since(text: str, expected: datetime) -> None:
    assert feed.parse_since(text, NOW) == expected


def test_parse_since_a_clock_time_is_the_latest_one_not_in_the_future() -> None:
    t = feed.parse_since("00:00", NOW)
    assert t <= NOW and (NOW - t).total_seconds() < 86400


@pytest.mark.parametrize("bad", ["yesterday", "1y", "", "-5m"])
def test_parse_since_refuses_nonsense(bad: str) -> None:
    with pytest.raises(ValueError, match="--since takes a duration"):
        feed.parse_since(bad, NOW)


def test_lines_say_what_happened() -> None:
    ev = {"seq": 1, "event_type": "hooked", "bead_id": "gt-1", "new_value": "toast", "title": "fix login",
          "created_at": "2026-11-30T12:00:00.000000Z", "metadata": {}}
    assert feed.line(ev).endswith("  toast picked up gt-1 “fix login”")
    odd = {**ev, "event_type": "something_new", "actor": "ann", "old_value": None, "new_value": "x"}
    assert feed.line(odd).endswith("  something new gt-1 → x by ann")


@pytest.mark.slow
def test_gt_feed_on_a_town_with_history(town: Path) -> None:
    slung = gtj("sling", "add notes", "--rig", "app", "--script", "printf 'hi\\n' > notes.txt")[0]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 60, "merged")
    lines = run_gt("feed", "--since", "1h", "--limit", "2000", check=True).stdout.splitlines()
    text = "\n".join(lines)
    assert f"picked up {slung['id']} “add notes”" in text
    assert f"toast handed in {slung['id']} for merge" in text and f"{slung['id']} landed on main at " in text
    assert lines[0][2] == ":" and lines[0][5] == ":"  # HH:MM:SS first
    events = [json.loads(x) for x in run_gt("feed", "--json", "-n", "5", check=True).stdout.splitlines()]
    assert len(events) == 5 and [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert run_gt("feed", "--since", "2099-01-01T00:00:00Z", check=True).stdout == ""
    bad = run_gt("feed", "--since", "yesterday")
    assert bad.returncode != 0 and bad.stderr.startswith("gt: --since takes") and len(bad.stderr.splitlines()) == 1
