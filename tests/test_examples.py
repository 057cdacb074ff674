"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_end_to_end(gt_home: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "== board ==" in out and "== merged log of the sample rig ==" in out
    board = out.split("== board ==")[1].split("== merge queue ==")[0]
    assert board.count(" closed ") == 3 and " failed " not in board
    queue = out.split("== merge queue ==")[1].split("== merged log")[0]
    assert queue.count(" failed ") == 1 and queue.count(" merged ") == 3  # one red gate, then rework
    log = out.split("== merged log of the sample rig ==")[1]
    assert log.count("Merge gt/") == 3 and "(gastown polecat))" in log  # polecats are pooled: any may do a bead
