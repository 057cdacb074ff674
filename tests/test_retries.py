"""Retries in plain sight: the attempt a bead waits for, when, and why, in `gt bead show`
and `gt ready --explain`; a bead in backoff is not ready."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gastown.cli.render import bead_text
from gastown.timetext import retry_line
from gastown.daemon.rules.retries import retry_state
from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
FAILURE = {"code": "agent_crashed", "message": "the agent's turn exited with status 3"}


def open_bead(**kw: object) -> dict[str, object]:
    return {"id": "gt-1", "status": "open", "type": "issue", "title": "t", "dispatch_attempts": 1,
            "last_dispatch_at": "2026-01-01T11:59:50Z", "failure_reason": FAILURE, **kw}


def test_retry_state_counts_the_next_attempt_and_its_time() -> None:
    state = retry_state(open_bead(), max_attempts=5, scale=1.0, now=NOW)
    assert state == {"attempt": 2, "max_attempts": 5, "next_try_at": "2026-01-01T12:00:20Z", "waiting": True,
                     "last_failure": FAILURE}
    later = retry_state(open_bead(dispatch_attempts=2), max_attempts=5, scale=0.5, now=NOW)
    assert later is not None and later["next_try_at"] == "2026-01-01T12:00:20Z" and later["attempt"] == 3
    assert retry_state(open_bead(last_dispatch_at="2026-01-01T11:00:00Z"), max_attempts=5, scale=1.0,
                       now=NOW)["waiting"] is False  # type: ignore[index]


@pytest.mark.parametrize("bead_kw", [{"status": "in_progress"}, {"status": "closed"}, {"dispatch_attempts": 0},
                                     {"failure_reason": None}])
def test_no_retry_line_unless_open_after_a_failed_attempt(bead_kw: dict[str, object]) -> None:
    assert retry_state(open_bead(**bead_kw), max_attempts=5, scale=1.0, now=NOW) is None


def test_bead_text_shows_one_retry_banner_and_hides_resolved_failures() -> None:
    state = retry_state(open_bead(), max_attempts=5, scale=1.0, now=NOW)
    text = bead_text(open_bead(retry=state))
    assert "RETRY: attempt 2/5 · next try " in text and "last failure: [agent_crashed]" in text
    assert "FAILED" not in text
    assert "FAILED" not in bead_text(open_bead(status="in_progress"))  # a retry is under way
    assert "FAILED" not in bead_text(open_bead(status="closed"))
    assert "FAILED: [agent_crashed]" in bead_text(open_bead(status="failed"))
    assert retry_line({**state, "waiting": False}).startswith("attempt 2/5 · next try: now")  # type: ignore[dict-item]


@pytest.mark.slow
def test_a_bead_in_backoff_is_explained_not_ready(town: Path) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "100", check=True)  # 50 min until attempt 2
    slung = gtj("sling", "crashes", "--rig", "app", "--script", "echo boom; exit 3")[0]
    wait_for(lambda: (b := bead(slung["id"]))["status"] == "open" and b["dispatch_attempts"] == 1
             and b.get("retry"), 60, "back to open after attempt 1")
    shown = run_gt("bead", "show", slung["id"], check=True).stdout
    assert "RETRY: attempt 2/5 · next try " in shown and "exited with status 3" in shown
    assert "FAILED" not in shown
    assert slung["id"] not in [b["id"] for b in gtj("ready")]
    explained = run_gt("ready", "--explain", check=True).stdout.splitlines()
    at = explained.index(f"{slung['id']}  crashes")
    assert explained[at + 1].startswith("    attempt 2/5 · next try ")
