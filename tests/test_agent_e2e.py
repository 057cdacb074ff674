"""Real agent CLIs (opencode, claude, codex, gemini, aider) through the whole Gastown loop.

A real daemon (started by `gt`), a real rig, `gt sling --agent CLI`, and the CLI's own shell
tool driven by gastown.fakellm: the polecat appends a function, commits, and runs
`gt done`. Checks the bead reaches in_review with a merge request, the commit's identity
and trailers, and that the adapter read the native session id and the turn's token usage
from the PTY output. One test crashes the first turn and checks that the re-dispatched
turn resumes the same native session.

Skips only when the CLI is not installed (scripts/install-agents.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon import adapters
from gastown.fakellm import FakeLLM
from gastown.protocol import RpcError
from tests.conftest import run_gt
from tests.helpers import gtj, wait_for

pytestmark = [pytest.mark.agentcli, pytest.mark.slow]

WORK = [
    {"shell": "printf 'def mul(a, b):\\n    return a * b\\n' >> arith.py"},
    {"shell": "git add -A && git commit -qm 'add mul'"},
    {"shell": "gt done --summary 'added mul'"},
    {"say": "Done."},
]
TURN_TIMEOUT = float(os.environ.get("GT_E2E_TURN_TIMEOUT", "120"))


def require(cli: str) -> None:
    try:
        adapters.get(cli).resolve_binary()
    except RpcError as exc:
        pytest.skip(exc.message)


def agent(name: str) -> dict[str, Any]:
    return gtj("agent", "show", name)[0]


def turn_output(a: dict[str, Any]) -> str:
    path = Path(a["turn_dir"]) / "output.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""




def configure(llm: FakeLLM, base_url: str | None = None) -> None:
    for key, value in (("agent.base_url", base_url or llm.url), ("agent.api_key", "sk-fake"),
                       ("agent.model", "fake-model")):
        run_gt("config", "set", key, value, check=True)


def delivered(bead_id: str) -> bool:
    """`gt done` happened: in review, or already merged by the refinery."""
    return gtj("bead", "show", bead_id)[0]["status"] in ("in_review", "closed")


def wait_done(bead_id: str, name: str = "toast", timeout: float = TURN_TIMEOUT) -> dict[str, Any]:
    """Delivered, and the turn's exit recorded (the session id and tokens come from it)."""
    def done() -> dict[str, Any] | None:
        a = agent(name)
        if a["turn_ended_at"] and delivered(bead_id):
            return a
        if a["status"] == "failed":
            raise AssertionError(f"agent failed: {a}\n{turn_output(a)}")
        return None
    try:
        found: dict[str, Any] = wait_for(done, timeout, f"{bead_id} delivered")
        return found
    except AssertionError:
        print(turn_output(agent(name)), agent(name), gtj("bead", "show", bead_id)[0])
        raise


def check_delivery(bead_id: str, repo: Path, a: dict[str, Any], hooks: bool = True) -> None:
    """One merge request from the polecat's branch; its commit is by the human, committed by the
    agent, with the trailers; the agent is idle with nothing on its hook.

    `hooks=False` (gemini): the CLI runs shell commands with `core.hooksPath` forced empty
    (and the global git config off), so Gastown's commit-msg hook never adds the trailers.
    Asserted as absent so that a fix shows up here."""
    mrs = [m for m in gtj("mq", "list") if m["source_bead_id"] == bead_id]
    assert len(mrs) == 1 and mrs[0]["branch"] == f"gt/{a['name']}/{bead_id}", mrs
    assert a["status"] == "idle" and a["hook_bead_id"] is None
    log = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%an|%cn|%s|%B", mrs[0]["head_sha"]],
                         capture_output=True, text=True, check=True).stdout
    author, committer, subject, body = log.split("|", 3)
    assert (author, committer, subject) == ("Test Human", f"{a['name']} (gastown polecat)", "add mul")
    trailers = f"Bead-ID: {bead_id}" in body and "Requested-by: Test Human <human@example.com>" in body
    assert trailers == hooks, body
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{mrs[0]['head_sha']}:arith.py"],
                           capture_output=True, text=True, check=True).stdout
    assert "def mul(a, b):\n    return a * b\n" in shown


def main_tokens(reqs: list[dict[str, Any]]) -> tuple[int, int]:
    """What the fake server counted for the main-loop requests (title requests are not)."""
    reqs = [r for r in reqs if r["kind"] != "aux"]
    return sum(r["input_tokens"] for r in reqs), sum(r["output_tokens"] for r in reqs)


@pytest.mark.parametrize("cli, session_prefix, url_suffix", [
    ("codex", "", ""),          # base URL given without /v1: the adapter adds it
    ("claude", "", "/v1"),      # given with /v1: the adapter strips it for Anthropic
    ("opencode", "ses_", "/v1/"),
    ("gemini", "", "/v1"),      # given with /v1: the adapter strips it (the CLI adds /v1beta)
])
def test_cli_turn_through_gastown(cli: str, session_prefix: str, url_suffix: str, town: Path) -> None:
    require(cli)
    with FakeLLM(WORK) as llm:
        configure(llm, llm.url + url_suffix)
        start = time.monotonic()
        slung = gtj("sling", "add mul", "--rig", "app", "--agent", cli)[0]
        a = wait_done(slung["id"])
        print(f"{cli}: sling -> gt done + turn exit in {time.monotonic() - start:.1f}s")
        assert llm.remaining() == 0
        check_delivery(slung["id"], town, a, hooks=cli != "gemini")
        assert a["adapter"] == cli and a["turns"] == 1
        assert a["session_id"] and a["session_id"].startswith(session_prefix)
        assert a["tokens_in"] > 0 and a["tokens_out"] > 0
        if cli != "opencode":  # opencode's title request is not counted in its step_finish usage
            assert (a["tokens_in"], a["tokens_out"]) == main_tokens(llm.requests)
        check_transcript(cli, a)


SHELL_TOOL = {"opencode": "bash", "claude": "Bash", "codex": "shell", "gemini": "run_shell_command"}
# gemini 0.61's stream-json gives a shell command's status, not its exit code
SHELL_OK = {"gemini": "ok"}


def check_transcript(cli: str, a: dict[str, Any]) -> None:
    """`gt agent logs` renders the turn for people: each command with its exit code, the
    agent's words, and the turn's end with its tokens."""
    lines = run_gt("agent", "logs", a["name"], check=True).stdout.splitlines()
    tool, ok = SHELL_TOOL[cli], SHELL_OK.get(cli, "exit 0")
    assert f"▶ {tool}  printf 'def mul(a, b):\\n    return a * b\\n' >> arith.py  → {ok}" in lines, lines
    assert f"▶ {tool}  git add -A && git commit -qm 'add mul'  → {ok}" in lines, lines
    assert f"▶ {tool}  gt done --summary 'added mul'  → {ok}" in lines, lines
    assert "Done." in lines
    assert lines[-1] == (f"■ turn ended: exited (exit 0) · tokens: {a['tokens_in']:,} in · {a['tokens_out']:,} out")
    assert not any(line.lstrip().startswith("{") for line in lines)  # no raw JSON


def crash_command(status: Path, signal: str) -> str:
    """A shell step that kills its own turn. Unconfined, the agent can read its turn's status and
    kill the turn's group; in the sandbox (the default) the turn dir is invisible and the turn is
    every process of its pid namespace."""
    pgid = f"$(python3 -c 'import json; print(json.load(open(\"{status}\"))[\"pgid\"])')"
    return (f"echo started > started.txt; if [ -r {status} ]; then kill -{signal} -- -{pgid}; "
            f"else kill -{signal} -1; fi; sleep 300")


@pytest.mark.parametrize("cli", ["codex", "claude"])
def test_crashed_turn_is_resumed_in_the_same_session(cli: str, town: Path, gt_home: Path) -> None:
    """Turn 1 runs one command, then the whole turn is killed (its process group gets
    SIGTERM: exit status non-zero, a crash). The bead goes back to open and is re-dispatched to
    the same polecat, whose turn 2 resumes turn 1's native session and finishes the work.

    The shell sleeps after the kill so that the CLI can never hand the command's result to the
    model: without it claude's SIGTERM handler sometimes still sent the next request, which took
    the next scripted step (the edit) and died with it."""
    require(cli)
    status = gt_home / "towns" / "t" / "turns" / "toast" / "0001" / "status.json"
    crash = crash_command(status, "TERM")
    with FakeLLM([{"shell": crash}, *WORK]) as llm:
        configure(llm)
        run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
        slung = gtj("sling", "add mul", "--rig", "app", "--agent", cli)[0]
        def crashed() -> list[dict[str, Any]]:
            return [e for e in gtj("bead", "events", slung["id"])
                    if (e["metadata"].get("failure_reason") or {}).get("code") == "agent_killed"]
        try:
            wait_for(crashed, TURN_TIMEOUT, "the first turn's crash")
        except AssertionError:
            print(turn_output(agent("toast")))
            raise
        exits = [e["metadata"] for e in gtj("bead", "events", agent("toast")["bead_id"])
                 if e["event_type"] == "turn_exited"]
        sid = exits[0]["session_id"]
        assert sid, turn_output(agent("toast"))  # read from the output before the kill
        a = wait_done(slung["id"])
        assert a["turns"] == 2 and a["session_id"] == sid and sid in a["turn"]["argv"]  # resumed by id
        check_delivery(slung["id"], town, a)
        steps = [r for r in llm.requests if r["kind"] != "aux"]
        assert [r["step"] for r in steps][:2] == [0, 1]  # turn 1 made one request: the kill
        resumed = json.dumps(steps[1]["body"])
        assert "started.txt" in resumed  # turn 1's tool call is in turn 2's conversation
        assert a["tokens_in"] > 0 and a["tokens_out"] > 0
        # The killed turn printed no usage (and codex's thread total never counted it either):
        # what is recorded is exactly turn 2's requests.
        assert (a["tokens_in"], a["tokens_out"]) == main_tokens(steps[1:])


def test_a_session_that_was_never_saved_starts_afresh(town: Path, gt_home: Path) -> None:
    """Turn 1 wipes claude's saved sessions and is killed (SIGKILL), as when a kill comes
    before claude saved its session or a home was wiped: turn 2's resume fails with "No
    conversation found". Gastown forgets that session, so turn 3 starts a fresh one (with the
    whole briefing) and delivers, instead of repeating the failed resume until the bead gives up.
    (A bare SIGKILL is not enough: whether claude saved the session by then is a race.)"""
    require("claude")
    status = gt_home / "towns" / "t" / "turns" / "toast" / "0001" / "status.json"
    crash = 'rm -rf "$HOME/.claude/projects"; ' + crash_command(status, "KILL")
    with FakeLLM([{"shell": crash}, *WORK]) as llm:
        configure(llm)
        run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
        slung = gtj("sling", "add mul", "--rig", "app", "--agent", "claude")[0]
        a = wait_done(slung["id"])
        exits = [e["metadata"] for e in gtj("bead", "events", a["bead_id"]) if e["event_type"] == "turn_exited"]
        assert [bool(m.get("session_lost")) for m in exits] == [False, True, False], exits
        first = exits[0]["session_id"]
        assert a["turns"] == 3 and a["session_id"] and a["session_id"] != first
        assert first not in a["turn"]["argv"] and "--resume" not in a["turn"]["argv"]
        check_delivery(slung["id"], town, a)
        steps = [r for r in llm.requests if r["kind"] != "aux"]
        assert [r["step"] for r in steps] == [0, 1, 2, 3, 4]  # nothing taken by the killed turn


def test_aider_turn_through_gastown(town: Path) -> None:
    """aider has no tools: the model's reply rewrites arith.py in aider's `whole` format, and
    the adapter's wrapper commits it (subject = the bead title) and runs `gt done`. The bead is
    titled like the other CLIs' commit, so check_delivery applies unchanged."""
    require("aider")
    from tests.conftest import ARITH
    new = ARITH["arith.py"] + "\n\ndef mul(a, b):\n    return a * b\n"
    edit = {"say": f"Adding mul.\n\narith.py\n```\n{new}```\n"}
    # The first reply names a file not in the chat: aider adds it (--yes-always) and asks again.
    with FakeLLM([edit, edit], toolless=True) as llm:
        configure(llm, llm.url + "/v1")
        slung = gtj("sling", "add mul", "--rig", "app", "--agent", "aider")[0]
        a = wait_done(slung["id"])
        assert llm.remaining() == 0
        check_delivery(slung["id"], town, a)
        assert a["adapter"] == "aider" and a["turns"] == 1
        assert a["session_id"] and a["session_id"].startswith("aider-")
        assert a["tokens_in"] > 0 and a["tokens_out"] > 0  # aider's own estimate, not the server's
        lines = run_gt("agent", "logs", a["name"], check=True).stdout.splitlines()
        assert "✎ aider  arith.py" in lines, lines
        assert lines[-1] == (f"■ turn ended: exited (exit 0) · tokens: {a['tokens_in']:,} in · {a['tokens_out']:,} out")
