"""Transcripts: every adapter's parse of a recorded real stream (tests/fixtures/transcripts,
recorded with scripts/record-transcripts.py through the real CLIs, the real turn runner and
gastown.fakellm), the rendering people read, and the pieces around it (status from output,
following a running turn, storing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gastown import transcript as tr
from gastown.daemon import adapters
from gastown.daemon.alarm import transcripts
from gastown.daemon.store.turns import turn_failure

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
HEADING = ["## Proof written", "The proof file exists; the missing file is still missing."]


def parse(cli: str) -> list[tr.Event]:
    return adapters.get(cli).transcript((FIXTURES / f"{cli}.log").read_text())


def lines(cli: str) -> list[str]:
    return list(tr.render(parse(cli)))


@pytest.mark.parametrize("cli, shell, tokens", [
    ("claude", "Bash", "tokens: 77,176 in · 68 out"),
    ("opencode", "bash", "tokens: 31,350 in · 67 out"),
    ("kilo", "bash", "tokens: 51,208 in · 67 out"),
])
def test_edit_capable_clis_render_commands_edit_words_and_tokens(cli: str, shell: str, tokens: str) -> None:
    assert lines(cli) == [
        f"▶ {shell}  echo hi > proof.txt && echo wrote proof  → exit 0",
        f"▶ {shell}  ls missing-file  → exit 2",
        "    ls: cannot access 'missing-file': No such file or directory",
        f"✎ {'Write' if cli == 'claude' else 'write'}  notes.md  → ok",
        *HEADING,
        tokens,
    ]


def test_codex_renders_commands_without_the_bash_wrapper_and_its_warning() -> None:
    assert lines("codex") == [
        "! Model metadata for `fake-model` not found. Defaulting to fallback metadata; this can degrade "
        "performance and cause issues.",
        "▶ shell  echo hi > proof.txt && echo wrote proof  → exit 0",
        "▶ shell  ls missing-file  → exit 2",
        "    ls: cannot access 'missing-file': No such file or directory",
        *HEADING,
    ]  # codex's usage is cumulative over its thread: the daemon's `end` event carries the turn's share


def test_scripted_steps_are_shell_calls_with_their_exit_codes() -> None:
    assert lines("scripted") == [
        "scripted agent toast: 1 step(s) for: write proof",
        "▶ shell  echo hi > proof.txt && echo wrote proof  → exit 0",
        "▶ shell  gt done --summary 'scripted: 1 step(s)'  → exit 1",
    ]
    result = parse("scripted")[2]
    assert result.kind == "tool_result" and result.head == ["wrote proof"]


def test_gemini_recorded_turn_renders_commands_edit_words_and_tokens() -> None:
    """gemini 0.61 reports a failing shell command as `status: success` with no exit code in
    stream-json, so no exit code is claimed; its stderr notices show as output lines."""
    assert lines("gemini")[-6:] == [
        "▶ run_shell_command  echo hi > proof.txt && echo wrote proof  → ok",
        "▶ run_shell_command  ls missing-file  → ok",
        "✎ write_file  notes.md  → ok",
        *HEADING,
        "tokens: 52,133 in · 68 out",
    ]


@pytest.mark.parametrize("cli", ["claude", "codex", "opencode", "kilo", "gemini"])
def test_the_parse_agrees_with_the_adapters_reply_text(cli: str) -> None:
    """The text events are what the adapter reports as the agent's reply (mayor chat)."""
    text = (FIXTURES / f"{cli}.log").read_text()
    said = "\n".join(e.text for e in parse(cli) if e.kind == "text")
    assert said == adapters.get(cli).reply_text(text) == "\n".join(HEADING)


@pytest.mark.parametrize("cli", ["claude", "opencode", "kilo", "gemini"])
def test_usage_events_sum_to_what_parse_output_reports(cli: str, tmp_path: Path) -> None:
    res = adapters.get(cli).parse_output((FIXTURES / f"{cli}.log").read_text(), tmp_path)
    assert tr.tokens(parse(cli)) == (res.tokens_in, res.tokens_out) and res.tokens_in > 0


def test_gemini_stream_json() -> None:
    """Hand-written in gemini's documented stream-json shape (an `Exit Code: N` in a shell
    tool's output and an error result, which the recorded turn has not): assistant deltas
    join, the shell tool's exit code comes from its output, stats are usage."""
    stream = "\n".join([
        '{"type":"init","session_id":"s1","model":"m"}',
        '{"type":"message","role":"user","content":"go"}',
        '{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"make test"}}',
        '{"type":"tool_result","tool_id":"t1","status":"error","output":"boom\\nExit Code: 2"}',
        '{"type":"tool_use","tool_name":"write_file","tool_id":"t2","parameters":{"file_path":"a.py","content":"x"}}',
        '{"type":"tool_result","tool_id":"t2","status":"success","output":"ok"}',
        '{"type":"message","role":"assistant","content":"All ","delta":true}',
        '{"type":"message","role":"assistant","content":"done.","delta":true}',
        '{"type":"result","status":"success","stats":{"input_tokens":120,"output_tokens":7}}',
    ])
    assert list(tr.render(adapters.get("gemini").transcript(stream))) == [
        "▶ run_shell_command  make test  → exit 2", "    boom", "    Exit Code: 2",
        "✎ write_file  a.py  → ok", "All done.", "tokens: 120 in · 7 out"]


def test_aider_recorded_turn() -> None:
    """aider 0.86.2 through its wrapper: the reply (with the file it wrote, in aider's `whole`
    edit format), the edit, and its own token estimate; banner and the echoed file name are
    dropped. The first line is aider failing to fetch model prices with no network."""
    text = (FIXTURES / "aider.log").read_text()
    assert lines("aider")[0].startswith("HTTPSConnectionPool(host='raw.githubusercontent.com'")
    assert lines("aider")[1:] == ["## Proof written", "The proof file exists.", "", "notes.md", "```",
                                  "# notes", "hello", "```", "✎ aider  notes.md", "tokens: 650 in · 21 out"]
    res = adapters.get("aider").parse_output(text, FIXTURES)
    assert res.session_id is not None and res.session_id.startswith("aider-")
    assert tr.tokens(parse("aider")) == (res.tokens_in, res.tokens_out) == (650, 21)


def test_aider_plain_text() -> None:
    """Hand-written in aider's --no-pretty output shape (k-rounded counts, the wrapper's
    `gt done` line, which the recorded turn has not)."""
    out = ("gastown aider session: aider-0123abcd\r\nAider v0.86.2\r\nMain model: openai/fake with whole edit format\r\n"
           "Git repo: .git with 3 files\r\nI will add the function.\r\n\r\nApplied edit to arith.py\r\n"
           "Tokens: 2.3k sent, 120 received.\r\ndone: merge request gt-mr1\r\n")
    assert list(tr.render(adapters.get("aider").transcript(out))) == [
        "I will add the function.", "✎ aider  arith.py", "│ done: merge request gt-mr1", "tokens: 2,300 in · 120 out"]


def test_a_failed_command_shows_first_and_last_lines_with_a_count() -> None:
    body = "\n".join(f"line {i}" for i in range(1, 21))
    events = [tr.tool_call("bash", {"command": "pytest -q"}, "c1"), tr.tool_result("c1", body, 1)]
    assert list(tr.render(events)) == ["▶ bash  pytest -q  → exit 1", "    line 1", "    line 2", "    line 3",
                                       "    … 14 more lines", "    line 18", "    line 19", "    line 20"]


def test_the_end_event_carries_the_turns_tokens_and_reason() -> None:
    events = transcripts.build("codex", (FIXTURES / "codex.log").read_text(),
                               {"exit_code": 137, "signal": 9}, (1000, 20))
    assert list(tr.render(events))[-1] == "■ turn ended: agent_killed (exit 137) · tokens: 1,000 in · 20 out"
    assert tr.tokens(events) == (1000, 20)


def test_stored_transcripts_round_trip(tmp_path: Path) -> None:
    events = parse("claude")
    tr.dump(events, tmp_path / "t.jsonl")
    assert tr.load(tmp_path / "t.jsonl") == events
    assert tr.load(tmp_path / "missing.jsonl") is None


def test_following_holds_back_a_call_until_its_result_and_a_growing_message() -> None:
    call = tr.tool_call("bash", {"command": "sleep 9"}, "c1")
    done = tr.tool_result("c1", "", 0)
    assert tr.stable([tr.text("hi"), call]) == 1
    assert tr.stable([tr.text("hi"), call, done]) == 3
    assert tr.stable([call, done, tr.text("thinking")]) == 2
    events = [tr.text("hi"), call, done, tr.text("bye")]
    first = list(tr.render(events, start=0, stop=1))
    rest = list(tr.render(events, start=1))
    assert first + rest == list(tr.render(events))


def test_status_from_output_prefers_a_heading_then_the_first_sentence() -> None:
    assert tr.status_from(parse("opencode")) == "Proof written"
    assert tr.status_from([tr.text("Ran the tests. All green now.")]) == "Ran the tests."
    assert tr.status_from([tr.text("# Old"), tr.text("fixing the parser")]) == "fixing the parser"
    assert tr.status_from([tr.tool_call("bash", {"command": "ls"})]) == ""


@pytest.mark.parametrize("exit_code, ending, code, words", [
    (143, {"signal": 15}, "agent_killed", "killed by SIGTERM (signal 15) from outside"),
    (137, {"signal": 9}, "agent_killed", "SIGKILL"),
    (None, {"lost": True}, "runner_lost", "runner vanished"),
    (None, {}, "runner_lost", "runner vanished"),
    (143, {"signal": 15, "timed_out": True}, "timed_out", "timeout"),
    (3, {}, "agent_crashed", "exited with status 3"),
    (143, {}, "agent_killed", "ended on SIGTERM (signal 15) from outside Gastown (exit status 143)"),
    (0, {}, "exited_without_done", "without 'gt done'"),
])
def test_turn_failures_say_why(exit_code: int | None, ending: dict[str, object], code: str, words: str) -> None:
    got_code, message = turn_failure(exit_code, ending)
    assert got_code == code and words in message and "None" not in message
