"""`gt tui` against a real daemon, driven through tmux: a slung bead appears on the board and
moves across it, page keys work, the dashboard survives a daemon restart, and work is slung,
held, retried and edited from the dashboard alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import GT, REPO, make_repo, run_gt
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]
HEADS = ("open", "in progress", "in review", "closed", "failed")
# `gt tui` once the lead registers it; until then the same command through its Typer function.
SHIM = [sys.executable, "-c", "import typer; from gastown.cli.tui import tui; typer.run(tui)"]


class Pane:
    """A private tmux server (its own socket name) with one window running the dashboard."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (160, 45)) -> None:
        self.server = f"gt-tui-{uuid.uuid4().hex[:8]}"
        self.env = env  # the server's whole environment: no COLUMNS/LINES from pytest's terminal
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", str(size[0]), "-y", str(size[1]),
                  " ".join(_quote(a) for a in argv))
        self.tmux("set-option", "-t", "tui", "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True, check=True,
                              cwd=REPO, env=self.env).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() == "1"

    def wait(self, pred: Callable[[str], object], timeout: float = 60.0, what: str = "screen") -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if pred(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{text}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, check=False,
                       env=self.env)  # only our own server


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def column_of(text: str, bead_id: str) -> str | None:
    """Which board column shows `bead_id`, from the x positions of the column headings."""
    lines = text.splitlines()
    head = next((line for line in lines if all(f"{h} (" in line for h in HEADS)), None)
    if head is None:
        return None
    starts = [head.index(f"{h} (") for h in HEADS]
    for line in lines:
        x = line.find(bead_id)
        if x >= 0:
            return HEADS[max(i for i, s in enumerate(starts) if s - 2 <= x)]
    return None


@pytest.fixture
def live_town(gt_home: Path) -> Iterator[dict[str, str]]:
    run_gt("town", "create", "t", check=True)
    repo = make_repo(gt_home / "src" / "app", {"README.md": "# app\n"})
    run_gt("rig", "add", "app", str(repo), check=True)
    env = {k: os.environ[k] for k in ("GT_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "PATH", "HOME")
           if k in os.environ}
    env.update(GT_TOWN="t", TERM="xterm-256color", PYTHONPATH=str(REPO))
    yield env
    run_gt("daemon", "stop")


def test_gt_tui_follows_a_slung_bead_across_the_board(live_town: dict[str, str]) -> None:
    registered = run_gt("tui", "--help").returncode == 0
    pane = Pane([*(GT + ["tui"] if registered else SHIM), "--screen", "board"], live_town)
    try:
        pane.wait(lambda t: "● live" in t and "open (0)" in t, 30, "an empty, live board")
        slung = json.loads(run_gt("sling", "live tui bead", "--rig", "app", "--script", "sleep 3",
                                  "--script", "echo x > x.txt", "--json", check=True).stdout)
        bead = slung["id"]
        seen: list[str] = []

        def moved(text: str) -> bool:
            where = column_of(text, bead)
            if where and (not seen or seen[-1] != where):
                seen.append(where)
            return where in ("in review", "closed")

        pane.wait(moved, 90, f"{bead} to reach in review or closed")
        print(f"\n{bead} seen in: {seen}")
        assert seen[0] in ("open", "in progress") and seen[-1] in ("in review", "closed"), seen
        pane.keys("o")
        pane.wait(lambda t: "Agents" in t and "toast" in t, 20, "the overview with the polecat")
        pane.keys("b")
        pane.wait(lambda t: column_of(t, bead) is not None, 20, "the board again")
        run_gt("daemon", "stop", check=True)
        pane.wait(lambda t: "reconnecting" in t, 30, "the lost daemon noticed")
        run_gt("daemon", "start", check=True)
        pane.wait(lambda t: "● live" in t and column_of(t, bead) is not None, 60, "live again after the restart")
        pane.keys("q")
        pane.wait(lambda t: pane.dead(), 20, "gt tui to exit on q")
    finally:
        pane.close()


def test_sling_hold_retry_and_edit_from_the_dashboard(live_town: dict[str, str]) -> None:
    """A person runs the day from the dashboard: every step is keys in the real terminal and
    every result is read back from the daemon (`gt bead show`), not from the screen alone."""
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # nothing is dispatched under us
    registered = run_gt("tui", "--help").returncode == 0
    pane = Pane([*(GT + ["tui"] if registered else SHIM), "--screen", "board"], live_town)

    def bead() -> dict[str, object]:
        rows = json.loads(run_gt("bead", "list", "--json", check=True).stdout.splitlines()[0])
        shown: dict[str, object] = json.loads(run_gt("bead", "show", str(rows["id"]), "--json", check=True).stdout)
        return shown

    try:
        pane.wait(lambda t: "● live" in t and "open (0)" in t, 30, "an empty, live board")
        pane.keys("S")
        pane.wait(lambda t: "Sling new work" in t, 20, "the sling form")
        for field, text, after in (("title", "from the dashboard", "body"), ("body", "typed in a form", "rig")):
            pane.wait(lambda t: f"▸ {field}" in t, 20, f"the {field} field focused")
            pane.keys("-l", text)
            pane.wait(lambda t: text in t, 20, f"the {field} typed")
            pane.keys("Tab")
        pane.wait(lambda t: "▸ rig" in t and "▊  app " in t.replace("▎", " "), 20, "the rig (the town's only rig)")
        pane.keys("C-s")
        pane.wait(lambda t: "open (1)" in t and "from the dashboard" in t, 30, "the slung bead on the board")
        b = bead()
        assert (b["title"], b["body"], b["rig"], b["status"]) == ("from the dashboard", "typed in a form", "app", "open")
        pane.keys("H")  # focus went to the first column with a bead: the new one
        pane.wait(lambda t: "held" in t, 30, "held on the card")
        assert "gt:held" in bead()["labels"]  # type: ignore[operator]
        pane.keys("R")
        pane.wait(lambda t: "Retry bead now" in t, 20, "the retry form")
        pane.wait(lambda t: "▸ reason" in t, 20, "the reason field focused")
        pane.keys("-l", "go now")
        pane.keys("C-s")
        wait_for(lambda: "gt:held" not in bead()["labels"], 30, "retry to clear the hold")  # type: ignore[operator]
        pane.keys("E")
        pane.wait(lambda t: "Edit bead" in t, 20, "the edit form")
        pane.wait(lambda t: "▸ title" in t, 20, "the title field focused")
        # the prefilled title is selected when its field takes focus: typing replaces it
        pane.keys("-l", "edited in the dashboard")
        pane.keys("C-s")
        pane.wait(lambda t: "edited in the dashboard" in t, 30, "the new title on the board")
        assert bead()["title"] == "edited in the dashboard"
        pane.keys("q")
        pane.wait(lambda t: pane.dead(), 20, "gt tui to exit on q")
    finally:
        pane.close()
