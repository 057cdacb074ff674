"""Convoys that land as one: members merge into gastown/convoy/<id> through their own lane;
the convoy lands on the target as one merge once every member is in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import gtj, wait_for

pytestmark = pytest.mark.slow

PLAN = """title = "two files, one landing"
merge_mode = "integration"
rig = "app"

[[beads]]
id = "a"
title = "file a"
script = ["echo a > a.txt"]

[[beads]]
id = "b"
title = "file b"
script = ["echo b > b.txt"]
"""


def git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_integration_convoy_lands_as_one_merge(town: Path, tmp_path: Path) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    convoy = gtj("sling", "--batch", str(plan))[0]
    assert convoy["merge_mode"] == "integration"
    before = git_out(town, "rev-parse", "main")
    wait_for(lambda: gtj("convoy", "show", convoy["id"])[0]["status"] == "closed", 120, "convoy landed")
    shown = gtj("convoy", "show", convoy["id"])[0]
    assert shown["landed_at"] and all(m["status"] == "closed" for m in shown["members"])
    mrs = gtj("mq", "list")
    members = [m for m in mrs if m["source_bead_id"] != convoy["id"]]
    landing = [m for m in mrs if m["source_bead_id"] == convoy["id"]]
    assert len(members) == 2 and {m["target_branch"] for m in members} == {f"gastown/convoy/{convoy['id']}"}
    assert len(landing) == 1 and landing[0]["target_branch"] == "main" and landing[0]["status"] == "closed"
    # main moved exactly once: one merge commit whose first parent is the old main
    assert git_out(town, "rev-list", "--first-parent", f"{before}..main").split() == [landing[0]["merge_commit"]]
    assert git_out(town, "rev-parse", "main^1") == before
    assert sorted(git_out(town, "ls-tree", "--name-only", "main").split()) == sorted(
        ["a.txt", "b.txt", "arith.py", "test_arith.py"])
    wait_for(lambda: not git_out(town, "ls-remote", ".", f"refs/heads/gastown/convoy/{convoy['id']}"), 30,
             "integration branch retired")


def test_unknown_merge_mode_is_refused(town: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.replace('"integration"', '"yolo"'))
    proc = run_gt("sling", "--batch", str(plan))
    assert proc.returncode == 2 and "merge_mode must be" in proc.stderr
