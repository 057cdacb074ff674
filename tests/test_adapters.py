"""Agent-CLI adapters without the CLIs: command lines, environments, config files, base-URL
forms, reading session ids and token usage from raw PTY output, codex's per-turn deltas, the
aider wrapper (run with a stand-in aider) and the not-installed error.

The output samples are trimmed from real turns of the pinned CLIs against gastown.fakellm
(docs/agent-clis.md), with the PTY's \\r\\n line ends and escape codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from gastown.daemon import adapters
from gastown.daemon.adapters import TurnContext, base
from gastown.daemon.adapters.aider import AiderAdapter
from gastown.daemon.adapters.codex import CodexAdapter
from gastown.daemon.adapters.common import json_events, write_login_profile
from gastown.protocol import ErrorCode, RpcError

CLIS = ("opencode", "claude", "codex", "aider", "kilo", "gemini")
URL = "http://127.0.0.1:4011"
PROMPT = "You are toast, a polecat. Bead t-1: add mul"
SYSTEM = "GASTOWN ROLE PROMPT"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GT_AGENT_CACHE with a stand-in executable for every CLI; the repo cache hidden."""
    root = tmp_path / "agents"
    for name in CLIS:
        cls = adapters.ADAPTERS[name]
        binary = root / name / ("bin" if name == "aider" else "node_modules/.bin") / str(cls.binary)
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    monkeypatch.setenv("GT_AGENT_CACHE", str(root))
    monkeypatch.setattr(base, "REPO_CACHE", tmp_path / "no-repo-cache")
    return root


def ctx(tmp_path: Path, **kw: object) -> TurnContext:
    home, wt = tmp_path / "home", tmp_path / "wt"
    home.mkdir(exist_ok=True)
    wt.mkdir(exist_ok=True)
    fields: dict[str, object] = dict(agent="toast", role="polecat", town="t", worktree=wt, home=home, prompt=PROMPT,
                                     system_prompt=SYSTEM, model="fake-model", base_url=URL, api_key="sk-fake",
                                     bead={"id": "t-1", "title": "add mul"})
    fields.update(kw)
    return TurnContext(**fields)  # type: ignore[arg-type]


def binpath(cache: Path, name: str) -> str:
    sub = "bin" if name == "aider" else "node_modules/.bin"
    return str(cache / name / sub / str(adapters.ADAPTERS[name].binary))


# ------------------------------------------------------------------ registry, not installed

def test_all_adapters_registered() -> None:
    assert set(adapters.ADAPTERS) == {"scripted", *CLIS}
    for name in CLIS:
        a = adapters.get(name)
        assert a.name == name and a.binary and ("@" in a.package or "==" in a.package)
    with pytest.raises(RpcError) as exc:
        adapters.get("nonesuch")
    assert exc.value.code == ErrorCode.INVALID_PARAMS


@pytest.mark.parametrize("name, pin", [("opencode", "opencode-ai@1.18.33"),
                                       ("claude", "@anthropic-ai/claude-code@2.1.197"),
                                       ("codex", "@openai/codex@0.169.0"), ("kilo", "@kilocode/cli@7.7.7"),
                                       ("aider", "aider-chat==0.86.2"), ("gemini", "@google/gemini-cli@0.61.0")])
def test_not_installed_is_one_line(name: str, pin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GT_AGENT_CACHE", str(empty))
    monkeypatch.setattr(base, "REPO_CACHE", empty)
    monkeypatch.setenv("PATH", str(empty))
    a = adapters.get(name)
    with pytest.raises(RpcError) as exc:
        a.check()
    msg = exc.value.message
    assert exc.value.code == ErrorCode.EXTERNAL and "\n" not in msg
    assert f"agent CLI '{a.binary}' is not installed" in msg and pin in msg
    assert f"scripts/install-agents.sh {name}" in msg
    with pytest.raises(RpcError):
        a.command(ctx(tmp_path))


def test_binary_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GT_AGENT_CACHE", str(tmp_path))
    monkeypatch.setattr(base, "REPO_CACHE", tmp_path)
    (tmp_path / "codex").write_text("#!/bin/sh\n")
    (tmp_path / "codex").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert adapters.get("codex").resolve_binary() == str(tmp_path / "codex")


# ------------------------------------------------------------------ base URL forms

@pytest.mark.parametrize("given", [URL, URL + "/", URL + "/v1", URL + "/v1/"])
def test_base_url_normalised(given: str, cache: Path, tmp_path: Path) -> None:
    c = ctx(tmp_path, base_url=given)
    assert adapters.get("claude").env(c)["ANTHROPIC_BASE_URL"] == URL
    assert adapters.get("gemini").env(c)["GOOGLE_GEMINI_BASE_URL"] == URL
    assert adapters.get("aider").env(c)["OPENAI_API_BASE"] == URL + "/v1"
    for name in ("opencode", "kilo"):
        env = adapters.get(name).env(c)
        cfg = json.loads(str(env[f"{name.upper()}_CONFIG_CONTENT"]))
        assert cfg["provider"]["gastown"]["options"]["baseURL"] == URL + "/v1"
    codex = adapters.get("codex")
    codex.prepare(c)
    toml = tomllib.loads((c.home / ".codex" / "config.toml").read_text())
    assert toml["model_providers"]["gastown"]["base_url"] == URL + "/v1"


# ------------------------------------------------------------------ environment hygiene

@pytest.mark.parametrize("name", CLIS)
def test_env_is_the_agents_own(name: str, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                "CODEX_HOME", "OPENCODE_CONFIG", "KILO_CONFIG", "GEMINI_API_KEY", "AIDER_MODEL"):
        monkeypatch.setenv(var, "from-the-parent")
    c = ctx(tmp_path)
    env = adapters.get(name).env(c)
    assert env["HOME"] == str(c.home) and env["PWD"] == str(c.worktree)
    assert env["CLAUDECODE"] is None  # set, claude refuses a "nested" session
    leaked = {k: v for k, v in env.items() if v == "from-the-parent"}
    assert not leaked
    assert all(v is None or isinstance(v, str) for v in env.values())


# ------------------------------------------------------------------ opencode / kilo

def test_opencode_fresh_and_resumed(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("opencode")
    c = ctx(tmp_path)
    a.prepare(c)
    wt = str(c.worktree)
    assert a.command(c) == [binpath(cache, "opencode"), "run", "--format", "json", "--dir", wt, PROMPT]
    resumed = ctx(tmp_path, session_id="ses_abc")
    assert a.command(resumed) == [binpath(cache, "opencode"), "run", "--format", "json", "--dir", wt,
                                  "--session", "ses_abc", PROMPT]
    env = a.env(c)
    assert env["OPENCODE_DISABLE_MODELS_FETCH"] == env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert str(env[var]).startswith(str(c.home)) and Path(str(env[var])).is_dir()
    cfg = json.loads(str(env["OPENCODE_CONFIG_CONTENT"]))
    assert cfg["model"] == cfg["small_model"] == "gastown/fake-model"
    provider = cfg["provider"]["gastown"]
    assert provider["npm"] == "@ai-sdk/openai-compatible" and provider["options"]["apiKey"] == "sk-fake"
    assert provider["models"]["fake-model"]["tool_call"] is True
    assert cfg["autoupdate"] is False and cfg["share"] == "disabled"
    assert cfg["permission"] == {"bash": "allow", "edit": "allow", "external_directory": "allow"}
    (instructions,) = cfg["instructions"]
    assert Path(instructions).read_text() == SYSTEM + "\n"


def test_opencode_without_system_prompt_or_endpoint(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("opencode")
    a.prepare(ctx(tmp_path))
    c = ctx(tmp_path, system_prompt="", base_url="", api_key="", model="anthropic/claude-x")
    a.prepare(c)
    cfg = json.loads(str(a.env(c)["OPENCODE_CONFIG_CONTENT"]))
    assert "instructions" not in cfg and "provider" not in cfg and cfg["model"] == "anthropic/claude-x"
    assert not (c.home / "gastown-instructions.md").exists()


def test_kilo_is_opencode_with_kilo_names(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("kilo")
    c = ctx(tmp_path, session_id="ses_k")
    assert a.command(c) == [binpath(cache, "kilo"), "run", "--format", "json", "--dir", str(c.worktree),
                            "--session", "ses_k", PROMPT]
    env = a.env(c)
    assert "OPENCODE_CONFIG_CONTENT" not in env and json.loads(str(env["KILO_CONFIG_CONTENT"]))["model"]
    assert env["KILO_TELEMETRY_LEVEL"] == "off"
    assert env["KILO_DISABLE_MODELS_FETCH"] == env["KILO_DISABLE_AUTOUPDATE"] == "1"
    assert env["KILO_DISABLE_SESSION_INGEST"] == env["KILO_DISABLE_SHARE"] == "1"


OPENCODE_OUT = "\r\n".join([
    '{"type":"step_start","timestamp":1795310367276,"sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","part":{'
    '"id":"prt_1","messageID":"msg_1","sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","type":"step-start"}}',
    '{"type":"tool_use","timestamp":1795310367988,"sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","part":{"type":"tool",'
    '"tool":"bash","callID":"call_fake_24","state":{"status":"completed","input":{"command":"printf \'def mul(a, b):'
    '\\\\n    return a * b\\\\n\' >> arith.py","description":"run a command"},"output":"(no output)","metadata":'
    '{"output":"(no output)","exit":0,"truncated":false}}}}',
    '{"type":"step_finish","timestamp":1795310368556,"sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","part":{'
    '"reason":"tool-calls","type":"step-finish","tokens":{"total":7975,"input":7949,"output":26,"reasoning":0,'
    '"cache":{"write":0,"read":0}},"cost":0}}',
    '{"type":"text","timestamp":1795310370747,"sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","part":{"type":"text",'
    '"text":"Done.\u2028(a line separator JSON.stringify leaves raw)"}}',
    '{"type":"step_finish","timestamp":1795310370911,"sessionID":"ses_dff29ec69ffeNWHFVEYFqWHVeP","part":{'
    '"reason":"stop","type":"step-finish","tokens":{"total":8182,"input":8081,"output":1,"reasoning":0,'
    '"cache":{"write":40,"read":60}},"cost":0}}',
    "",
])


@pytest.mark.parametrize("name", ["opencode", "kilo"])
def test_opencode_parse_output(name: str, tmp_path: Path) -> None:
    r = adapters.get(name).parse_output(OPENCODE_OUT, tmp_path)
    assert r.session_id == "ses_dff29ec69ffeNWHFVEYFqWHVeP"
    assert (r.tokens_in, r.tokens_out) == (7949 + 8081 + 40 + 60, 26 + 1)  # per step, cache included


# ------------------------------------------------------------------ claude

def test_claude_fresh_and_resumed(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("claude")
    common = [binpath(cache, "claude"), "-p", "--output-format", "stream-json", "--verbose",
              "--dangerously-skip-permissions", "--model", "fake-model", "--append-system-prompt", SYSTEM]
    c = ctx(tmp_path)
    a.prepare(c)
    assert a.command(c) == [*common, PROMPT]
    sid = "d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9"
    assert a.command(ctx(tmp_path, session_id=sid)) == [*common, "--resume", sid, PROMPT]
    bare = a.command(ctx(tmp_path, system_prompt="", model=""))
    assert "--append-system-prompt" not in bare and "--model" not in bare
    env = a.env(c)
    assert env["ANTHROPIC_BASE_URL"] == URL and env["ANTHROPIC_API_KEY"] == "sk-fake"
    assert env["IS_SANDBOX"] == "1" and env["DISABLE_AUTOUPDATER"] == "1"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "ANTHROPIC_BASE_URL" not in a.env(ctx(tmp_path, base_url="", api_key=""))


CLAUDE_OUT = "\r\n".join([
    '{"type":"system","subtype":"init","cwd":"/tmp/gt-x/towns/t/worktrees/app/toast","session_id":'
    '"d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9","tools":["Task","Bash","Edit","Read","Write"],"model":"fake-model",'
    '"permissionMode":"bypassPermissions","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.197"}',
    '{"type":"assistant","message":{"id":"msg_fake_12","type":"message","role":"assistant","model":"fake-model",'
    '"content":[{"type":"tool_use","id":"toolu_fake_14","name":"Bash","input":{"command":"git add -A && git commit '
    '-qm \'add mul\'","description":"run a command"}}],"usage":{"input_tokens":19394,"output_tokens":1,'
    '"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},"session_id":"d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9"}',
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_fake_14","type":"tool_result",'
    '"content":"(Bash completed with no output)","is_error":false}]},"session_id":"d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9"}',
    '{"type":"result","subtype":"success","is_error":false,"num_turns":4,"result":"Done.","stop_reason":"end_turn",'
    '"session_id":"d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9","total_cost_usd":0.392045,"usage":{"input_tokens":78074,'
    '"cache_creation_input_tokens":100,"cache_read_input_tokens":20,"output_tokens":67,"server_tool_use":'
    '{"web_search_requests":0}},"modelUsage":{"fake-model":{"inputTokens":78074,"outputTokens":67}}}',
    "\x1b[?1006l\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b(B\x0f\x1b[>4m\x1b[<u\x1b[?1004l\x1b[?2031l\x1b[?2004l"
    "\x1b[?25h\x1b7\x1b[r\x1b8\x1b]0;\x07\x1b[?25h",
])


def test_claude_parse_output(tmp_path: Path) -> None:
    r = adapters.get("claude").parse_output(CLAUDE_OUT, tmp_path)
    assert r.session_id == "d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9"
    assert (r.tokens_in, r.tokens_out) == (78074 + 100 + 20, 67)  # the result line only


def test_claude_crashed_turn_keeps_the_session(tmp_path: Path) -> None:
    """Killed before the result line: the session id (from init) is still known, no usage."""
    r = adapters.get("claude").parse_output("\r\n".join(CLAUDE_OUT.split("\r\n")[:2]), tmp_path)
    assert (r.session_id, r.tokens_in, r.tokens_out) == ("d3f1b0bb-cfa3-4a02-b352-22a1eecce3a9", 0, 0)


@pytest.mark.parametrize("name, printed", [
    ("claude", 'No conversation found with session ID: 4a1e4592-d6f0-42ee-9638-74a385f27a69\r\n'
               '{"type":"result","subtype":"error_during_execution","is_error":true,'
               '"session_id":"4a1e4592-d6f0-42ee-9638-74a385f27a69"}\r\n'),
    ("codex", "Error: thread/resume: thread/resume failed: no rollout found for thread id "
              "0199a213-81c0-7800-8aa1-bbab2a035a53 (code -32600)\r\n"),
])
def test_a_session_that_cannot_be_resumed_is_recognised(name: str, printed: str) -> None:
    """What the CLIs print (recorded from the pinned versions) when told to resume a session
    they never saved; an ordinary crash is not mistaken for it."""
    adapter = adapters.get(name)
    assert adapter.session_lost(printed)
    assert not adapter.session_lost(CLAUDE_OUT) and not adapter.session_lost("Traceback: boom")
    assert not adapters.get("gemini").session_lost(printed)  # no marker known: never dropped


# ------------------------------------------------------------------ codex

def test_codex_fresh_and_resumed(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("codex")
    c = ctx(tmp_path)
    a.prepare(c)
    dev = ["-c", f"developer_instructions={json.dumps(SYSTEM)}"]
    assert a.command(c) == [binpath(cache, "codex"), "exec", "--json", "--skip-git-repo-check", *dev, PROMPT]
    tid = "01a200d5-ac2b-74a1-bf3b-e0f21a216d44"
    assert a.command(ctx(tmp_path, session_id=tid)) == [binpath(cache, "codex"), "exec", "resume", "--json",
                                                         "--skip-git-repo-check", *dev, tid, PROMPT]
    env = a.env(c)
    assert env["CODEX_HOME"] == str(c.home / ".codex") and env["GT_CODEX_API_KEY"] == "sk-fake"
    cfg = tomllib.loads((c.home / ".codex" / "config.toml").read_text())
    assert cfg["model"] == "fake-model" and cfg["model_provider"] == "gastown"
    assert cfg["approval_policy"] == "never" and cfg["sandbox_mode"] == "danger-full-access"
    assert cfg["model_providers"]["gastown"] == {
        "name": "Gastown", "base_url": URL + "/v1", "wire_api": "responses", "env_key": "GT_CODEX_API_KEY",
        "request_max_retries": 0, "stream_max_retries": 0}
    # The system prompt is a TOML string value on the command line, whatever it contains.
    tricky = 'say "hi"\nand \\ back, ünïcode'
    arg = a.command(ctx(tmp_path, system_prompt=tricky))[5]
    assert tomllib.loads(arg)["developer_instructions"] == tricky


def test_codex_default_provider_without_base_url(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("codex")
    c = ctx(tmp_path, base_url="")
    a.prepare(c)
    cfg = tomllib.loads((c.home / ".codex" / "config.toml").read_text())
    assert "model_provider" not in cfg and "model_providers" not in cfg
    assert a.env(c)["OPENAI_API_KEY"] == "sk-fake"


def codex_out(thread: str, usage: tuple[int, int] | None) -> str:
    lines = [
        'WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper binaries '
        'under temporary dir "/tmp"',
        '{"type":"thread.started","thread_id":"%s"}' % thread,
        '{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `fake-model` '
        'not found. Defaulting to fallback metadata; this can degrade performance and cause issues."}}',
        '{"type":"turn.started"}',
        '{"type":"item.completed","item":{"id":"item_3","type":"command_execution","command":"/bin/bash -lc \\"gt '
        'done --summary \'added mul\'\\"","aggregated_output":"done: merge request t-6w2\\n","exit_code":0,'
        '"status":"completed"}}',
        '{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"Done."}}',
    ]
    if usage:
        lines.append('{"type":"turn.completed","usage":{"input_tokens":%d,"cached_input_tokens":0,'
                     '"cache_write_input_tokens":0,"output_tokens":%d,"reasoning_output_tokens":0}}' % usage)
    return "\r\n".join(lines) + "\r\n"


def test_codex_usage_is_a_per_turn_delta(tmp_path: Path) -> None:
    a = CodexAdapter()
    t1, t2 = "01a200d5-ac2b-74a1-bf3b-e0f21a216d44", "01a200d5-0000-7000-8000-000000000002"
    r = a.parse_output(codex_out(t1, (41413, 40)), tmp_path)
    assert (r.session_id, r.tokens_in, r.tokens_out) == (t1, 41413, 40)
    r = a.parse_output(codex_out(t1, (90000, 70)), tmp_path)  # resumed: cumulative over the thread
    assert (r.session_id, r.tokens_in, r.tokens_out) == (t1, 90000 - 41413, 30)
    assert (a.parse_output(codex_out(t1, (90000, 70)), tmp_path).tokens_in) == 0  # the same output twice
    r = a.parse_output(codex_out(t2, (500, 5)), tmp_path)  # another thread: its own total
    assert (r.tokens_in, r.tokens_out) == (500, 5)
    r = a.parse_output(codex_out(t1, None), tmp_path)  # killed before turn.completed: no usage
    assert (r.session_id, r.tokens_in, r.tokens_out) == (t1, 0, 0)
    r = a.parse_output(codex_out(t1, (100, 1)), tmp_path)  # smaller than remembered: counted whole
    assert (r.tokens_in, r.tokens_out) == (100, 1)
    saved = json.loads((tmp_path / ".codex" / "gastown-usage.json").read_text())
    assert saved == {t1: {"input": 100, "output": 1}, t2: {"input": 500, "output": 5}}


def test_codex_usage_file_unreadable(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "gastown-usage.json").write_text("not json")
    r = CodexAdapter().parse_output(codex_out("t", (10, 2)), tmp_path)
    assert (r.tokens_in, r.tokens_out) == (10, 2)


# ------------------------------------------------------------------ gemini

def test_gemini_fresh_and_resumed(cache: Path, tmp_path: Path) -> None:
    a = adapters.get("gemini")
    c = ctx(tmp_path)
    settings = c.home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"ui": {"theme": "x"}, "general": {"vimMode": true}}')
    a.prepare(c)
    common = [binpath(cache, "gemini"), "--output-format", "stream-json", "--approval-mode", "yolo", "--skip-trust",
              "--model", "fake-model"]
    assert a.command(c) == [*common, "--prompt", PROMPT]
    sid = "407b1874-239f-40e4-8db7-33b90b7c5137"
    assert a.command(ctx(tmp_path, session_id=sid)) == [*common, "--resume", sid, "--prompt", PROMPT]
    env = a.env(c)
    assert env["GEMINI_API_KEY"] == "sk-fake" and env["GOOGLE_GEMINI_BASE_URL"] == URL
    assert env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    s = json.loads(settings.read_text())
    assert s["ui"] == {"theme": "x"} and s["general"] == {"vimMode": True, "enableAutoUpdate": False,
                                                          "enableAutoUpdateNotification": False}
    assert s["privacy"]["usageStatisticsEnabled"] is False and s["telemetry"]["enabled"] is False
    assert s["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert (c.home / ".gemini" / "GEMINI.md").read_text() == SYSTEM
    a.prepare(ctx(tmp_path, system_prompt=""))
    assert not (c.home / ".gemini" / "GEMINI.md").exists()


GEMINI_OUT = "\r\n".join([
    "Warning: 256-color support not detected. Using a terminal with at least 256-color support is recommended.",
    "YOLO mode is enabled. All tool calls will be automatically approved.",
    '{"type":"init","timestamp":"2026-11-22T01:06:31.607Z","session_id":"407b1874-239f-40e4-8db7-33b90b7c5137",'
    '"model":"fake-model"}',
    '{"type":"message","timestamp":"2026-11-22T01:06:31.609Z","role":"user","content":"Do the thing"}',
    '{"type":"result","timestamp":"2026-11-22T01:06:31.716Z","status":"success","stats":{"total_tokens":1234,'
    '"input_tokens":1200,"output_tokens":34,"cached":0,"input":1200,"duration_ms":90,"tool_calls":1,"models":'
    '{"fake-model":{"total_tokens":1234,"input_tokens":1200,"output_tokens":34,"cached":0,"input":1200}}}}',
    "",
])


def test_gemini_parse_output(tmp_path: Path) -> None:
    r = adapters.get("gemini").parse_output(GEMINI_OUT, tmp_path)
    assert (r.session_id, r.tokens_in, r.tokens_out) == ("407b1874-239f-40e4-8db7-33b90b7c5137", 1200, 34)


# ------------------------------------------------------------------ aider

def test_aider_fresh_and_resumed(cache: Path, tmp_path: Path) -> None:
    a = AiderAdapter()
    c = ctx(tmp_path)
    a.prepare(c)
    argv = a.command(c)
    assert argv[:3] == ["sh", "-c", argv[2]] and argv[3] == "gastown-aider"
    sid, title, aider = argv[4], argv[5], argv[6:]
    assert sid.startswith("aider-") and title == "add mul"
    assert aider[:3] == [binpath(cache, "aider"), "--message", PROMPT]
    for flag in ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-check-update",
                 "--no-suggest-shell-commands", "--no-gitignore", "--analytics-disable"):
        assert flag in aider
    assert aider[aider.index("--model") + 1] == "openai/fake-model"
    assert Path(aider[aider.index("--read") + 1]).read_text() == SYSTEM
    history = aider[aider.index("--chat-history-file") + 1]
    assert history == str(c.home / ".aider" / "sessions" / f"{sid}.chat.md")
    assert "--restore-chat-history" not in aider
    resumed = a.command(ctx(tmp_path, session_id=sid))
    assert resumed[4] == sid and "--restore-chat-history" in resumed
    assert resumed[resumed.index("--chat-history-file") + 1] == history
    env = a.env(c)
    assert env["OPENAI_API_BASE"] == URL + "/v1" and env["OPENAI_API_KEY"] == "sk-fake"
    # a foreign session id (another adapter's) is not resumed
    other = a.command(ctx(tmp_path, session_id="ses_abc"))
    assert other[4] != "ses_abc" and "--restore-chat-history" not in other


AIDER_OUT = "\r\n".join([
    "gastown aider session: aider-10cf5dab42934a96",
    "Aider v0.86.2",
    "Model: openai/fake-model with whole edit format",
    "Git repo: .git with 1 files",
    "Added ../home/gastown-instructions.md to the chat (read-only).",
    "",
    "arith.py",
    "Tokens: 2.3k sent, 56 received.",
    "Applied edit to arith.py",
    "Tokens: 12k sent, 1.5k cache write, 3k cache hit, 1,024 received. Cost: $0.01 message, $0.02 session.",
    "done: merge request t-4ya for t-vyb at 0edd0497771d",
    "",
])


def test_aider_parse_output(tmp_path: Path) -> None:
    r = AiderAdapter().parse_output(AIDER_OUT, tmp_path)
    assert (r.session_id, r.tokens_in, r.tokens_out) == ("aider-10cf5dab42934a96", 2300 + 12000, 56 + 1024)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("aider_rc, edits", [(0, True), (0, False), (3, True)])
def test_aider_wrapper_commits_and_hands_off(aider_rc: int, edits: bool, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The wrapper with a stand-in aider and gt: commit when aider changed something (its
    .aider* files left out), then `gt done`; nothing after a failing aider."""
    repo = tmp_path / "wt"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "arith.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "initial")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_aider = bindir / "aider"
    fake_aider.write_text("#!/bin/sh\n" + ("echo 'def mul(a, b): return a * b' >> arith.py\n" if edits else "")
                          + "mkdir -p .aider.tags.cache.v4 && touch .aider.tags.cache.v4/x\n"
                          + f"echo 'Tokens: 950 sent, 12 received.'\nexit {aider_rc}\n")
    (bindir / "gt").write_text('#!/bin/sh\necho "gt $*" >> "$GT_LOG"\n')
    for f in bindir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("GT_AGENT_CACHE", str(tmp_path / "none"))
    monkeypatch.setattr(base, "REPO_CACHE", tmp_path / "none")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "GT_LOG": str(tmp_path / "gt.log"),
           "GIT_AUTHOR_NAME": "Test Human", "GIT_AUTHOR_EMAIL": "h@e", "GIT_COMMITTER_NAME": "toast",
           "GIT_COMMITTER_EMAIL": "toast@t"}
    monkeypatch.setenv("PATH", env["PATH"])
    a = AiderAdapter()
    c = ctx(tmp_path, worktree=repo)
    a.prepare(c)
    proc = subprocess.run(a.command(c), cwd=repo, env=env, capture_output=True, text=True, timeout=30)
    gt_log = (tmp_path / "gt.log").read_text() if (tmp_path / "gt.log").exists() else ""
    commits = _git(repo, "log", "--format=%s|%an|%cn").splitlines()
    r = a.parse_output(proc.stdout, c.home)
    assert r.session_id and r.session_id.startswith("aider-") and (r.tokens_in, r.tokens_out) == (950, 12)
    if aider_rc:
        assert proc.returncode == aider_rc and gt_log == "" and len(commits) == 1
        return
    assert proc.returncode == 0, proc.stderr
    assert gt_log == "gt done --summary add mul\n"
    if edits:
        assert commits[0] == "add mul|Test Human|toast"
        assert _git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["arith.py"]
    else:
        assert len(commits) == 1  # nothing to commit: gt done decides (it refuses an empty branch)


# ------------------------------------------------------------------ shared helpers

def test_json_events_from_pty_output() -> None:
    text = ("\x1b[?25lnoise {not json}\r\n\x1b[32m{\"a\": 1}\x1b[0m\r\n"
            "prefix {\"b\": \"x\u2028y\"}\r\n[1, 2]\r\n{\"c\": tru\r\n")
    assert list(json_events(text)) == [{"a": 1}, {"b": "x\u2028y"}]


def test_login_profile_keeps_gt_on_path(tmp_path: Path) -> None:
    """codex runs commands in `bash -lc`, and /etc/profile resets PATH."""
    gt_dir = tmp_path / "venv-bin"
    gt_dir.mkdir()
    (gt_dir / "gt").write_text("#!/bin/sh\necho gt-here\n")
    (gt_dir / "gt").chmod(0o755)
    write_login_profile(tmp_path)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "GT_BIN": str(gt_dir / "gt")}
    out = subprocess.run(["bash", "-lc", "gt"], env=env, capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "gt-here", out.stderr
    (tmp_path / ".profile").write_text("# mine\n")
    write_login_profile(tmp_path)
    assert (tmp_path / ".profile").read_text() == "# mine\n"  # a profile that is not ours stays
