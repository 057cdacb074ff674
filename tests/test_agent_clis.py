"""Real agent CLIs (opencode, claude, codex, kilo, gemini, aider) against gastown.fakellm.

Each test runs two non-interactive turns in a fresh git repo: the first makes the CLI run
``echo hi > proof.txt`` through its own shell tool, the second resumes the native session by id
and runs ``echo two > two.txt``. It checks the session id and token usage the CLI reports (the
fake server's deterministic counts must come back unchanged), that the resumed request carries
the first turn's conversation, and that the system-prompt option reaches the model.

These are the recipes docs/agent-clis.md documents; keep the two in step. Binaries come from
``scripts/install-agents.sh`` (``$GT_AGENT_CACHE`` or ``<repo>/.cache/agents``); a test skips
only when its binary is not installed there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gastown.fakellm import FakeLLM

pytestmark = [pytest.mark.agentcli, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("GT_AGENT_CACHE") or ROOT / ".cache" / "agents")
TURN_TIMEOUT = 180  # seconds; one turn takes 1-25 s on a 2-core machine
FIRST = "Create the proof file FIRST_PROMPT_MARKER"
SECOND = "Now the second file SECOND_PROMPT_MARKER"
SYSTEM_MARKER = "GASTOWN_SYSTEM_MARKER: you are a polecat."
SCRIPT = [{"shell": "echo hi > proof.txt"}, {"say": "first turn done"},
          {"shell": "echo two > two.txt"}]
# Env that would leak the developer's own agent setup into the child, or nest sessions.
STRIP_PREFIXES = ("CLAUDE", "ANTHROPIC", "OPENAI", "CODEX", "OPENCODE", "KILO")


def agent_bin(name: str) -> Path:
    path = CACHE / name / "node_modules" / ".bin" / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{name} not installed at {path} (run scripts/install-agents.sh {name})")
    return path


@dataclass
class Turn:
    rc: int
    seconds: float
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)


def run_turn(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> Turn:
    """One turn: stdin /dev/null (codex and claude wait on a pipe), JSONL stdout parsed."""
    start = time.monotonic()
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TURN_TIMEOUT)
    turn = Turn(proc.returncode, time.monotonic() - start, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            turn.events.append(json.loads(line))
    print(f"{Path(str(argv[0])).name} turn: {turn.seconds:.2f}s rc={turn.rc}")
    assert turn.rc == 0, f"rc={turn.rc}\nstdout:\n{turn.stdout[-3000:]}\nstderr:\n" \
                         f"{turn.stderr[-3000:]}"
    return turn


def clean_env(home: Path, repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIP_PREFIXES)}
    # opencode/kilo take the project dir from $PWD, not from the process cwd.
    env.update(HOME=str(home), PWD=str(repo), **extra)
    return env


@dataclass
class Workspace:
    repo: Path
    home: Path


@pytest.fixture
def ws() -> Iterator[Workspace]:
    """A fresh git repo and agent HOME. HOME is outside /tmp: codex refuses to create its
    helper binaries under a temporary dir (a warning only, but avoid it)."""
    base = ROOT / ".cache" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    repo = Path(tempfile.mkdtemp(prefix="repo-"))
    home = Path(tempfile.mkdtemp(prefix="agent-home-", dir=base))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    try:
        yield Workspace(repo, home)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def main_requests(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in reqs if r["kind"] != "aux"]


def check_turns(llm: FakeLLM, ws: Workspace, n_first: int) -> tuple[list[dict[str, Any]],
                                                                    list[dict[str, Any]]]:
    """Shared assertions: both files exist, steps consumed in order, turn 2 saw turn 1."""
    assert (ws.repo / "proof.txt").read_text() == "hi\n"
    assert (ws.repo / "two.txt").read_text() == "two\n"
    reqs = llm.requests
    first, second = main_requests(reqs[:n_first]), main_requests(reqs[n_first:])
    assert [r["step"] for r in first] == [0, 1]
    assert [r["step"] for r in second][:2] == [2, None]
    resumed = json.dumps(second[0]["body"])
    assert "FIRST_PROMPT_MARKER" in resumed and "echo hi > proof.txt" in resumed
    assert "SECOND_PROMPT_MARKER" in resumed
    return first, second


def tokens_in(reqs: list[dict[str, Any]]) -> tuple[int, int]:
    return sum(r["input_tokens"] for r in reqs), sum(r["output_tokens"] for r in reqs)


# ------------------------------------------------------------------ opencode and kilo


def opencode_config(llm: FakeLLM, instructions: Path) -> dict[str, Any]:
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": llm.url + "/v1", "apiKey": "sk-fake"},
                              "models": {"fake-model": {"name": "Fake", "tool_call": True}}}},
        "model": "fake/fake-model", "small_model": "fake/fake-model",
        "autoupdate": False, "share": "disabled",
        "instructions": [str(instructions)],
        "permission": {"bash": "allow", "edit": "allow", "external_directory": "allow"},
    }


def opencode_like(ws: Workspace, name: str, env_prefix: str) -> None:
    binary = agent_bin(name)
    instructions = ws.home / "gastown-instructions.md"
    instructions.write_text(SYSTEM_MARKER + "\n")
    with FakeLLM(SCRIPT) as llm:
        h = ws.home
        env = clean_env(h, ws.repo, XDG_DATA_HOME=str(h / "data"),
                        XDG_CONFIG_HOME=str(h / "config"), XDG_CACHE_HOME=str(h / "cache"),
                        XDG_STATE_HOME=str(h / "state"))
        env[f"{env_prefix}_CONFIG_CONTENT"] = json.dumps(opencode_config(llm, instructions))
        env[f"{env_prefix}_DISABLE_MODELS_FETCH"] = "1"
        env[f"{env_prefix}_DISABLE_AUTOUPDATE"] = "1"
        if name == "kilo":
            env.update(KILO_TELEMETRY_LEVEL="off", KILO_DISABLE_SESSION_INGEST="1",
                       KILO_DISABLE_SHARE="1")
        t1 = run_turn([binary, "run", "--format", "json", "--dir", ws.repo, FIRST], ws.repo, env)
        n_first = len(llm.requests)
        session = {e["sessionID"] for e in t1.events}
        assert len(session) == 1 and next(iter(session)).startswith("ses_")
        sid = next(iter(session))
        t2 = run_turn([binary, "run", "--format", "json", "--dir", ws.repo, "--session", sid,
                       SECOND], ws.repo, env)
        assert {e["sessionID"] for e in t2.events} == {sid}
        first, second = check_turns(llm, ws, n_first)
        assert all(r["api"] == "chat" and "bash" in r["tool_names"] for r in first)
        assert SYSTEM_MARKER in json.dumps(first[0]["body"]["messages"][0])
        # Token usage: one step_finish per model request, per step (not cumulative).
        for turn, reqs in ((t1, first), (t2, second)):
            finishes = [e["part"]["tokens"] for e in turn.events if e["type"] == "step_finish"]
            assert len(finishes) == len(reqs)
            assert (sum(t["input"] for t in finishes),
                    sum(t["output"] for t in finishes)) == tokens_in(reqs)
        tools = [e["part"] for e in t1.events if e["type"] == "tool_use"]
        assert tools[0]["tool"] == "bash" and tools[0]["state"]["status"] == "completed"


def test_opencode_turn_and_resume(ws: Workspace) -> None:
    opencode_like(ws, "opencode", "OPENCODE")


def test_kilo_turn_and_resume(ws: Workspace) -> None:
    opencode_like(ws, "kilo", "KILO")


# ------------------------------------------------------------------ claude


def test_claude_turn_and_resume(ws: Workspace) -> None:
    binary = agent_bin("claude")
    with FakeLLM(SCRIPT) as llm:
        env = clean_env(ws.home, ws.repo, ANTHROPIC_BASE_URL=llm.url,
                        ANTHROPIC_API_KEY="sk-ant-fake",
                        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1",
                        IS_SANDBOX="1")
        common = ["-p", "--output-format", "stream-json", "--verbose", "--model", "fake-model",
                  "--dangerously-skip-permissions", "--append-system-prompt", SYSTEM_MARKER]
        t1 = run_turn([binary, *common, FIRST], ws.repo, env)
        n_first = len(llm.requests)
        init, result = t1.events[0], t1.events[-1]
        assert init["type"] == "system" and init["subtype"] == "init"
        assert result["type"] == "result" and result["is_error"] is False
        sid = result["session_id"]
        assert sid == init["session_id"] and len(sid) == 36
        t2 = run_turn([binary, *common, "--resume", sid, SECOND], ws.repo, env)
        assert t2.events[-1]["session_id"] == sid
        first, second = check_turns(llm, ws, n_first)
        assert all(r["path"] == "/v1/messages" and "Bash" in r["tool_names"] for r in first)
        assert SYSTEM_MARKER in json.dumps(first[0]["body"]["system"])
        # Token usage: the final result event sums this invocation's requests only.
        for turn, reqs in ((t1, first), (t2, second)):
            usage = turn.events[-1]["usage"]
            assert (usage["input_tokens"], usage["output_tokens"]) == tokens_in(reqs)
        assert result["num_turns"] == 2


# ------------------------------------------------------------------ codex


def codex_config(llm: FakeLLM) -> str:
    return f"""model = "fake-model"
model_provider = "fake"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.fake]
name = "Fake"
base_url = "{llm.url}/v1"
wire_api = "responses"
env_key = "GT_FAKE_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""


def test_codex_turn_and_resume(ws: Workspace) -> None:
    binary = agent_bin("codex")
    with FakeLLM(SCRIPT) as llm:
        (ws.home / "config.toml").write_text(codex_config(llm))
        env = clean_env(ws.home, ws.repo, CODEX_HOME=str(ws.home), GT_FAKE_API_KEY="sk-fake")
        dev = ["-c", f"developer_instructions={json.dumps(SYSTEM_MARKER)}"]
        t1 = run_turn([binary, "exec", "--json", "--skip-git-repo-check", *dev, FIRST],
                      ws.repo, env)
        n_first = len(llm.requests)
        started = t1.events[0]
        assert started["type"] == "thread.started"
        tid = started["thread_id"]
        t2 = run_turn([binary, "exec", "resume", "--json", "--skip-git-repo-check", *dev, tid,
                       SECOND], ws.repo, env)
        assert t2.events[0] == {"type": "thread.started", "thread_id": tid}
        first, second = check_turns(llm, ws, n_first)
        assert all(r["api"] == "responses" and "exec_command" in r["tool_names"]
                   for r in first)
        assert SYSTEM_MARKER in json.dumps(first[0]["body"]["input"])
        # Token usage: turn.completed is CUMULATIVE over the thread after a resume.
        u1 = [e["usage"] for e in t1.events if e["type"] == "turn.completed"]
        u2 = [e["usage"] for e in t2.events if e["type"] == "turn.completed"]
        assert len(u1) == len(u2) == 1
        assert (u1[0]["input_tokens"], u1[0]["output_tokens"]) == tokens_in(first)
        i1, o1 = tokens_in(first)
        i2, o2 = tokens_in(second)
        assert (u2[0]["input_tokens"], u2[0]["output_tokens"]) == (i1 + i2, o1 + o2)
        cmds = [e["item"] for e in t1.events
                if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"]
        assert cmds[0]["exit_code"] == 0 and "proof.txt" in cmds[0]["command"]


# ------------------------------------------------------------------ gemini


def test_gemini_turn_and_resume(ws: Workspace) -> None:
    """The Gemini CLI against fakellm's Gemini dialect (``/v1beta/models/M:streamGenerateContent``).

    Settings pick the API-key auth (a base URL alone selects a gateway auth that headless mode
    rejects); the role prompt goes in the global GEMINI.md context file."""
    binary = agent_bin("gemini")
    from gastown.daemon.adapters.gemini import SETTINGS
    gdir = ws.home / ".gemini"
    gdir.mkdir()
    (gdir / "settings.json").write_text(json.dumps(SETTINGS))
    (gdir / "GEMINI.md").write_text(SYSTEM_MARKER + "\n")
    with FakeLLM(SCRIPT) as llm:
        env = {k: v for k, v in clean_env(ws.home, ws.repo).items()
               if not k.startswith(("GEMINI", "GOOGLE"))}
        env.update(GOOGLE_GEMINI_BASE_URL=llm.url, GEMINI_API_KEY="fake-key",
                   GEMINI_CLI_NO_RELAUNCH="true", GEMINI_CLI_TRUST_WORKSPACE="true")
        common = ["--output-format", "stream-json", "--approval-mode", "yolo", "--skip-trust",
                  "--model", "fake-model"]
        t1 = run_turn([binary, *common, "--prompt", FIRST], ws.repo, env)
        n_first = len(llm.requests)
        init = t1.events[0]
        assert init["type"] == "init" and init["model"] == "fake-model"
        sid = init["session_id"]
        assert len(sid) == 36
        t2 = run_turn([binary, *common, "--resume", sid, "--prompt", SECOND], ws.repo, env)
        assert t2.events[0]["session_id"] == sid
        first, second = check_turns(llm, ws, n_first)
        assert all(r["api"] == "gemini" and r["path"].endswith(":streamGenerateContent")
                   and "run_shell_command" in r["tool_names"] for r in first)
        assert SYSTEM_MARKER in json.dumps(first[0]["body"]["systemInstruction"])
        # Token usage: the final result's stats sum this invocation's requests only.
        for turn, reqs in ((t1, first), (t2, second)):
            stats = turn.events[-1]["stats"]
            assert turn.events[-1]["type"] == "result" and turn.events[-1]["status"] == "success"
            assert (stats["input_tokens"], stats["output_tokens"]) == tokens_in(reqs)
        tools = [e for e in t1.events if e["type"] == "tool_use"]
        results = [e for e in t1.events if e["type"] == "tool_result"]
        assert tools[0]["tool_name"] == "run_shell_command"
        assert tools[0]["parameters"]["command"] == "echo hi > proof.txt"
        assert results[0]["tool_id"] == tools[0]["tool_id"] and results[0]["status"] == "success"
        said = "".join(e["content"] for e in t1.events
                       if e["type"] == "message" and e["role"] == "assistant")
        assert said == "first turn done"


# ------------------------------------------------------------------ aider


def aider_edit(path: str, content: str, words: str) -> dict[str, str]:
    """aider has no tools: the model edits files with a reply in aider's `whole` edit format
    (the file name on its own line, then the whole new content fenced)."""
    return {"say": f"{words}\n\n{path}\n```\n{content}```\n"}


def test_aider_turn_and_resume(ws: Workspace) -> None:
    """aider through its adapter's own flags; the server answers tool-less requests from the
    script (``toolless``). Resume = the adapter's chat-history file restored."""
    from gastown.daemon.adapters import TurnContext
    from gastown.daemon.adapters.aider import AiderAdapter
    binary = CACHE / "aider" / "bin" / "aider"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"aider not installed at {binary} (run scripts/install-agents.sh aider)")
    adapter = AiderAdapter()
    script = [aider_edit("proof.txt", "hi\n", "I will write the proof."),
              aider_edit("two.txt", "two\n", "And the second file.")]
    with FakeLLM(script, toolless=True) as llm:
        def turn(prompt: str, session: str | None) -> tuple[Turn, str]:
            ctx = TurnContext(agent="toast", role="polecat", town="t", worktree=ws.repo,
                              home=ws.home, prompt=prompt, system_prompt=SYSTEM_MARKER,
                              session_id=session, model="fake-model", base_url=llm.url,
                              api_key="sk-fake")
            adapter.prepare(ctx)
            sid = adapter.session(ctx)
            env = {k: v for k, v in {**clean_env(ws.home, ws.repo), **adapter.env(ctx)}.items()
                   if v is not None}
            argv: list[str | Path] = [binary, *adapter.aider_args(ctx, sid)[1:]]
            return run_turn(argv, ws.repo, env), sid
        t1, sid = turn(FIRST, None)
        n_first = len(llm.requests)
        t2, sid2 = turn(SECOND, sid)
        assert sid2 == sid and adapter.history(ws.home, sid).exists()
        assert (ws.repo / "proof.txt").read_text() == "hi\n"
        assert (ws.repo / "two.txt").read_text() == "two\n"
        reqs = llm.requests
        assert [(r["api"], r["step"], r["tools"]) for r in reqs] == [("chat", 0, False),
                                                                  ("chat", 1, False)]
        assert n_first == 1
        first, second = json.dumps(reqs[0]["body"]), json.dumps(reqs[1]["body"])
        assert SYSTEM_MARKER in first and "FIRST_PROMPT_MARKER" in first
        assert "FIRST_PROMPT_MARKER" in second and "SECOND_PROMPT_MARKER" in second
        for t, path in ((t1, "proof.txt"), (t2, "two.txt")):
            assert f"Applied edit to {path}" in t.stdout
            result = adapter.parse_output(t.stdout, ws.home)
            assert result.tokens_in > 0 and result.tokens_out > 0
            edits = [e.path for e in adapter.transcript(t.stdout) if e.kind == "edit"]
            assert edits == [path]
