"""Direct merges: after a conflict the rework prompt says how to bring the target in and which
files conflict; a scripted polecat that does what its prompt (`gt prime`) says resolves it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gastown import paths
from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def follow_the_prompt(mine: str, other: str, marks: Path) -> str:
    """Write `mine` to shared.txt once the other polecat has started too (both branch from the
    same main, so the second to merge conflicts); on the conflict rework, run the merge command
    the prompt gives, keep both sides, commit."""
    return ('if [ "$GT_PREVIOUS_FAILURE" = conflict ]; then '
            "step=$(gt prime | grep -o 'git merge origin/[A-Za-z0-9_./-]*' | head -1); "
            'test -n "$step" || exit 3; $step || true; '
            "printf 'a\\nb\\n' > shared.txt; git add -A; git commit -q --no-edit; "
            f"else touch {marks}/{mine}; while [ ! -f {marks}/{other} ]; do sleep 0.05; done; "
            f"echo {mine} > shared.txt; fi")


def test_conflict_rework_brings_the_target_in(town: Path, tmp_path: Path) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    run_gt("config", "set", "sandbox", "off", check=True)  # the two polecats meet through flag files in tmp_path
    a = gtj("sling", "shared a", "--rig", "app", "--script", follow_the_prompt("a", "b", tmp_path))[0]
    b = gtj("sling", "shared b", "--rig", "app", "--script", follow_the_prompt("b", "a", tmp_path))[0]
    wait_for(lambda: bead(a["id"])["status"] == "closed" and bead(b["id"])["status"] == "closed", 120,
             "both beads merged")
    failed = [m for m in gtj("mq", "list") if m["status"] == "failed"]
    assert len(failed) == 1  # exactly one conflicted, and one rework round resolved it
    reason = gtj("mq", "show", failed[0]["id"])[0]["failure_reason"]
    assert reason["code"] == "conflict" and reason["details"]["files"] == ["shared.txt"]
    assert reason["details"]["target"] == "main"
    reworked = bead(failed[0]["source_bead_id"])
    prompts = sorted(Path(reworked_turn).read_text() for reworked_turn in _prompts(town, reworked["assignee"]))
    rework = [p for p in prompts if "The previous attempt failed" in p]
    assert rework and "git merge origin/main" in rework[-1] and "shared.txt" in rework[-1]
    main_text = subprocess.run(["git", "-C", str(town), "show", "main:shared.txt"], capture_output=True, text=True,
                               check=True).stdout
    assert main_text == "a\nb\n"
    assert reworked["failure_reason"] is None  # cleared by the successful gt done


def _prompts(town: Path, agent: str) -> list[str]:
    return [str(p) for p in (paths.towns_dir() / "t" / "turns" / agent).glob("*/prompt.md")]
