"""Record one real turn per agent CLI as a transcript test fixture.

Runs each installed CLI through its Gastown adapter and the real turn runner (a PTY, like
a town's turn) against gastown.fakellm, and copies the turn's raw output.log to
tests/fixtures/transcripts/<cli>.log. The scripted turn runs a shell command that
succeeds, one that fails, writes a file with the CLI's own edit tool when it has one, and
ends with a sentence. Usage: .venv/bin/python scripts/record-transcripts.py [CLI...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gastown import runner
from gastown.daemon import adapters
from gastown.daemon.adapters import TurnContext
from gastown.fakellm import FakeLLM

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "transcripts"
EDIT: dict[str, dict[str, Any]] = {
    "opencode": {"tool": "write", "args": {"filePath": "notes.md", "content": "# notes\nhello\n"}},
    "kilo": {"tool": "write", "args": {"filePath": "notes.md", "content": "# notes\nhello\n"}},
    "claude": {"tool": "Write", "args": {"file_path": "notes.md", "content": "# notes\nhello\n"}},
    "gemini": {"tool": "write_file", "args": {"file_path": "notes.md", "content": "# notes\nhello\n"}},
}


def steps(cli: str) -> list[dict[str, Any]]:
    if cli == "aider":  # no tools: one reply that edits a file in aider's `whole` format
        return [{"say": "## Proof written\nThe proof file exists.\n\nnotes.md\n```\n# notes\nhello\n```\n"}]
    s: list[dict[str, Any]] = [{"shell": "echo hi > proof.txt && echo wrote proof"},
                               {"shell": "ls missing-file"}]
    if cli in EDIT:
        s.append(EDIT[cli])
    return [*s, {"say": "## Proof written\nThe proof file exists; the missing file is still missing."}]


def record(cli: str) -> None:
    adapter = adapters.get(cli)
    try:
        adapter.check()
    except Exception as exc:  # noqa: BLE001 - report and go on with the others
        print(f"{cli}: skipped ({exc})")
        return
    base = ROOT / ".cache" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"rec-{cli}-", dir=base))
    repo, home, turn = work / "repo", work / "home", work / "turn"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    home.mkdir()
    try:
        with FakeLLM(steps(cli), toolless=cli == "aider") as llm:
            script = [s["shell"] for s in steps(cli) if "shell" in s][:1]  # the scripted agent stops at a failure
            ctx = TurnContext(agent="toast", role="polecat", town="rec", worktree=repo, home=home,
                              prompt="Write the proof file.", system_prompt="You are a polecat.",
                              model="fake-model", base_url=llm.url, api_key="sk-fake",
                              bead={"id": "gt-rec1", "title": "write proof", "metadata": {"script": script}})
            adapter.prepare(ctx)
            # GT_BIN=false (and a `gt` that is `false`, for aider's wrapper): `gt done` fails
            # here instead of reaching a real daemon
            fake_bin = work / "bin"
            fake_bin.mkdir()
            (fake_bin / "gt").symlink_to(shutil.which("false") or "/bin/false")
            base_env = adapter.env(ctx)
            path = f"{fake_bin}:{base_env.get('PATH') or os.environ.get('PATH', '')}"
            env = {**base_env, "PATH": path, "GT_AGENT": "toast", "GT_BIN": "false",
                   "GIT_AUTHOR_NAME": "rec", "GIT_AUTHOR_EMAIL": "rec@localhost",
                   "GIT_COMMITTER_NAME": "rec", "GIT_COMMITTER_EMAIL": "rec@localhost"}
            runner.spawn_detached(turn, adapter.command(ctx), repo, env, timeout=240)
            end = time.monotonic() + 300
            while runner.is_running(turn) and time.monotonic() < end:
                time.sleep(0.2)
            status = runner.read_status(turn) or {}
            OUT.mkdir(parents=True, exist_ok=True)
            shutil.copy(turn / "output.log", OUT / f"{cli}.log")
            print(f"{cli}: exit {status.get('exit_code')}, {len((turn / 'output.log').read_bytes())} bytes, "
                  f"{len(llm.requests)} requests")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for name in sys.argv[1:] or ["scripted", "claude", "codex", "opencode", "kilo", "aider", "gemini"]:
        record(name)
