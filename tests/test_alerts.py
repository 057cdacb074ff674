"""Notifications for "needs me" and "done" through notify.command, by notify.level."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def test_failed_and_landed_beads_reach_notify_command_by_level(town: Path, gt_home: Path) -> None:
    sink = gt_home / "alerts.txt"
    run_gt("config", "set", "notify.command", f'echo "$GT_NOTIFY_KIND $GT_EVENT $GT_BEAD_ID $GT_MESSAGE" >> {sink}',
           check=True)
    run_gt("config", "set", "dispatch.max_attempts", "1", check=True)
    failed = gtj("sling", "always crashes", "--rig", "app", "--script", "exit 3")[0]
    wait_for(lambda: sink.exists() and f"needs_me bead_failed {failed['id']}" in sink.read_text(), 60, "failure alert")
    assert "gave up after 1 dispatch attempts" in sink.read_text()
    landed = gtj("sling", "add notes", "--rig", "app", "--script", "printf 'hi\\n' > notes.txt")[0]
    wait_for(lambda: bead(landed["id"])["status"] == "closed", 60, "merged")
    run_gt("config", "set", "notify.level", "all", check=True)
    again = gtj("sling", "add more", "--rig", "app", "--script", "printf 'more\\n' > more.txt")[0]
    wait_for(lambda: f"done bead_landed {again['id']}" in sink.read_text(), 60, "landed alert")
    text = sink.read_text()
    assert landed["id"] not in text  # at needs_me, a landing is not announced (and never replayed later)
    assert text.count(f"bead_failed {failed['id']}") == 1  # announced once
    bad = run_gt("config", "set", "notify.level", "loud")
    assert bad.returncode != 0 and "notify.level" in bad.stderr
