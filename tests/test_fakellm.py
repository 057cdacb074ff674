"""Fast tests of gastown.fakellm with plain urllib clients, one per wire format."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gastown.fakellm import AUX_TEXT, FINAL_TEXT, FakeLLM, Script

ROOT = Path(__file__).resolve().parents[1]


def call(url: str, body: dict[str, Any] | None = None, method: str = "POST") -> tuple[int, Any]:
    """POST ``body``; return (status, parsed). SSE bodies parse to a list of (event, data)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            ctype = resp.headers.get("Content-Type", "")
            raw = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    if ctype.startswith("text/event-stream"):
        return status, parse_sse(raw)
    return status, json.loads(raw)


def parse_sse(raw: str) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        event = None
        data = ""
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data += line[len("data: "):]
        events.append((event, data if data == "[DONE]" else json.loads(data)))
    return events


CHAT_TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {}}},
              {"type": "function", "function": {"name": "read", "parameters": {}}}]


def chat_body(stream: bool = True, tools: list[Any] | None = CHAT_TOOLS,
              model: str = "m1", system: str = "You are an agent.") -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "stream": stream, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "hello"}]}
    if tools is not None:
        body["tools"] = tools
    return body


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM([{"shell": "echo hi > proof.txt"}, {"say": "all good"}]) as server:
        yield server


# ------------------------------------------------------------------ chat completions


def test_chat_stream_tool_call_then_say_then_exhausted(llm: FakeLLM) -> None:
    status, events = call(llm.url + "/v1/chat/completions", chat_body())
    assert status == 200
    assert events[-1] == (None, "[DONE]")
    chunks = [d for _, d in events[:-1]]
    name = "".join(tc["function"].get("name", "") for c in chunks
                   for tc in c["choices"][0]["delta"].get("tool_calls", []))
    args = "".join(tc["function"].get("arguments", "") for c in chunks
                   for tc in c["choices"][0]["delta"].get("tool_calls", []))
    assert name == "bash"
    assert json.loads(args) == {"command": "echo hi > proof.txt", "description": "run a command"}
    first_tc = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first_tc["id"].startswith("call_") and first_tc["type"] == "function"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert llm.remaining() == 1

    _, events = call(llm.url + "/chat/completions", chat_body())
    text = "".join(d["choices"][0]["delta"].get("content") or "" for _, d in events[:-1])
    assert text == "all good"
    assert events[-2][1]["choices"][0]["finish_reason"] == "stop"

    _, events = call(llm.url + "/v1/chat/completions", chat_body())
    assert "".join(d["choices"][0]["delta"].get("content") or ""
                   for _, d in events[:-1]) == FINAL_TEXT
    assert [r["kind"] for r in llm.requests] == ["step", "step", "exhausted"]
    assert [r["step"] for r in llm.requests] == [0, 1, None]


def test_chat_non_streaming(llm: FakeLLM) -> None:
    status, resp = call(llm.url + "/v1/chat/completions", chat_body(stream=False))
    assert status == 200 and resp["object"] == "chat.completion"
    msg = resp["choices"][0]["message"]
    assert resp["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["tool_calls"][0]["function"]["name"] == "bash"
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"])["command"] == \
        "echo hi > proof.txt"
    _, resp = call(llm.url + "/v1/chat/completions", chat_body(stream=False))
    assert resp["choices"][0]["message"]["content"] == "all good"
    assert resp["usage"]["prompt_tokens"] > 0


def test_toolless_and_title_requests_do_not_consume(llm: FakeLLM) -> None:
    _, events = call(llm.url + "/v1/chat/completions", chat_body(tools=None))
    assert events[1][1]["choices"][0]["delta"]["content"] == AUX_TEXT
    title = chat_body(system="You are a title generator. You output ONLY a thread title.")
    call(llm.url + "/v1/chat/completions", title)
    no_tools = {**chat_body(), "tool_choice": "none"}
    call(llm.url + "/v1/chat/completions", no_tools)
    assert llm.remaining() == 2
    assert [r["kind"] for r in llm.requests] == ["aux", "aux", "aux"]
    assert llm.requests[0]["tools"] is False and llm.requests[1]["tools"] is True


def test_token_counts_are_deterministic(llm: FakeLLM) -> None:
    body = chat_body(stream=False)
    _, resp = call(llm.url + "/v1/chat/completions", body)
    assert resp["usage"]["prompt_tokens"] == len(json.dumps(body).encode()) // 4
    assert llm.requests[0]["input_tokens"] == resp["usage"]["prompt_tokens"]


def test_no_shell_tool_offered_consumes_and_explains(llm: FakeLLM) -> None:
    tools = [{"type": "function", "function": {"name": "read"}}]
    _, resp = call(llm.url + "/v1/chat/completions", chat_body(stream=False, tools=tools))
    assert "no shell tool" in resp["choices"][0]["message"]["content"]
    assert llm.remaining() == 1


# ------------------------------------------------------------------ responses (codex)


def responses_body(tools: list[Any], stream: bool = True) -> dict[str, Any]:
    return {"model": "gpt-fake", "stream": stream, "tools": tools, "input": [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "You are a coding agent"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]}


def test_responses_stream_exec_command_and_text(llm: FakeLLM) -> None:
    tools = [{"type": "function", "name": "exec_command", "parameters": {}},
             {"type": "function", "name": "write_stdin"}, {"type": "web_search"}]
    _, events = call(llm.url + "/v1/responses", responses_body(tools))
    kinds = [e for e, _ in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert all(d["type"] == e for e, d in events)
    added = next(d for e, d in events if e == "response.output_item.added")
    assert added["item"]["type"] == "function_call"
    done = next(d for e, d in events if e == "response.output_item.done")["item"]
    assert done["name"] == "exec_command" and done["call_id"].startswith("call_")
    assert json.loads(done["arguments"]) == {"cmd": "echo hi > proof.txt"}
    usage = events[-1][1]["response"]["usage"]
    assert set(usage) == {"input_tokens", "input_tokens_details", "output_tokens",
                          "output_tokens_details", "total_tokens"}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    _, events = call(llm.url + "/v1/responses", responses_body(tools))
    deltas = [d["delta"] for e, d in events if e == "response.output_text.delta"]
    assert "".join(deltas) == "all good"
    item = next(d for e, d in events if e == "response.output_item.done")["item"]
    assert item["type"] == "message" and item["content"][0]["text"] == "all good"


def test_responses_shell_variants_and_non_streaming() -> None:
    with FakeLLM([{"shell": "ls"}, {"shell": "pwd"}, {"say": "x"}]) as llm:
        _, resp = call(llm.url + "/v1/responses",
                       responses_body([{"type": "function", "name": "shell"}], stream=False))
        item = resp["output"][0]
        assert resp["object"] == "response" and resp["status"] == "completed"
        assert json.loads(item["arguments"]) == {"command": ["bash", "-lc", "ls"]}
        _, events = call(llm.url + "/responses", responses_body([{"type": "local_shell"}]))
        item = next(d for e, d in events if e == "response.output_item.done")["item"]
        assert item["type"] == "local_shell_call"
        assert item["action"] == {"type": "exec", "command": ["bash", "-lc", "pwd"], "env": {}}


# ------------------------------------------------------------------ anthropic messages


ANTHROPIC_TOOLS = [{"name": "Agent", "input_schema": {}}, {"name": "Bash", "input_schema": {}}]


def anthropic_body(stream: bool = True, tools: list[Any] | None = ANTHROPIC_TOOLS
                   ) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "claude-fake", "stream": stream, "max_tokens": 100,
                            "system": [{"type": "text", "text": "You are Claude Code"}],
                            "messages": [{"role": "user", "content": "go"}]}
    if tools is not None:
        body["tools"] = tools
    return body


def test_anthropic_stream_tool_use_then_text(llm: FakeLLM) -> None:
    _, events = call(llm.url + "/v1/messages?beta=true", anthropic_body())
    assert [e for e, _ in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop"]
    assert all(d["type"] == e for e, d in events)
    block = events[1][1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "Bash" and block["input"] == {}
    delta = events[2][1]["delta"]
    assert delta["type"] == "input_json_delta"
    assert json.loads(delta["partial_json"]) == {"command": "echo hi > proof.txt",
                                                 "description": "run a command"}
    assert events[4][1]["delta"]["stop_reason"] == "tool_use"
    assert events[4][1]["usage"]["output_tokens"] > 0
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0

    _, events = call(llm.url + "/v1/messages?beta=true", anthropic_body())
    assert events[1][1]["content_block"]["type"] == "text"
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "all good"}
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"


def test_anthropic_non_streaming_and_aux(llm: FakeLLM) -> None:
    _, resp = call(llm.url + "/v1/messages", anthropic_body(tools=None, stream=False))
    assert resp["content"] == [{"type": "text", "text": AUX_TEXT}]
    _, resp = call(llm.url + "/v1/messages", anthropic_body(stream=False))
    assert resp["type"] == "message" and resp["stop_reason"] == "tool_use"
    assert resp["content"][0]["input"]["command"] == "echo hi > proof.txt"
    assert resp["usage"]["input_tokens"] > 0


def test_count_tokens_models_and_404(llm: FakeLLM) -> None:
    status, resp = call(llm.url + "/v1/messages/count_tokens?beta=true", anthropic_body())
    assert status == 200 and resp["input_tokens"] > 0
    status, resp = call(llm.url + "/v1/models", method="GET")
    assert status == 200 and resp["object"] == "list" and resp["has_more"] is False
    assert resp["data"][0]["id"] == "fake-model" and resp["data"][0]["type"] == "model"
    status, resp = call(llm.url + "/v1/models/anything", method="GET")
    assert resp["id"] == "anything"
    status, resp = call(llm.url + "/v1/embeddings", {"input": "x"})
    assert status == 404 and resp["error"]["type"] == "not_found_error"
    status, resp = call(llm.url + "/nope", method="GET")
    assert status == 404
    status, resp = call(llm.url + "/v1/responses/abc", method="DELETE")
    assert status == 404 and "DELETE" in resp["error"]["message"]
    req = urllib.request.Request(llm.url + "/v1/chat/completions", data=b"{not json",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    assert llm.remaining() == 2 and llm.requests == []


# ------------------------------------------------------------------ script handling


def test_shell_argument_shapes() -> None:
    with FakeLLM([{"shell": "a"}, {"shell": "b"}, {"tool": "custom", "args": {"x": 1}}]) as llm:
        tools = [{"type": "function", "function": {"name": "run_shell_command"}}]
        _, r = call(llm.url + "/v1/chat/completions", chat_body(stream=False, tools=tools))
        assert json.loads(r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) \
            == {"command": "a", "description": "run a command"}
        tools = [{"type": "function", "name": "shell_command"}]
        _, r = call(llm.url + "/v1/responses", responses_body(tools, stream=False))
        assert json.loads(r["output"][0]["arguments"]) == {"command": "b"}
        _, r = call(llm.url + "/v1/messages", anthropic_body(stream=False))
        assert r["content"][0] == {**r["content"][0], "name": "custom", "input": {"x": 1}}


def test_per_model_queues() -> None:
    spec = {"scripts": {"alpha": [{"say": "A"}], "beta": [{"say": "B"}]},
            "default": [{"say": "D"}]}
    with FakeLLM(spec) as llm:
        def say(model: str) -> str:
            _, r = call(llm.url + "/v1/chat/completions",
                        chat_body(stream=False, model=model))
            return str(r["choices"][0]["message"]["content"])
        assert llm.remaining() == 3 and llm.remaining("beta") == 1
        assert say("beta") == "B"
        assert say("provider/alpha") == "A"
        assert say("alpha") == FINAL_TEXT  # own queue exhausted; no fallback to default
        assert say("other") == "D"
        assert [r["queue"] for r in llm.requests] == ["beta", "alpha", None, "default"]
        ids = {m["id"] for m in call(llm.url + "/v1/models", method="GET")[1]["data"]}
        assert ids == {"fake-model", "alpha", "beta"}


@pytest.mark.parametrize("bad", [{"shell": 1}, {"say": "x", "shell": "y"}, "echo", {"run": "x"}])
def test_invalid_steps_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        Script([bad])
    with pytest.raises(ValueError):
        Script({"scripts": {"m": [bad]}})


def test_concurrent_requests_consume_each_step_once() -> None:
    steps = [{"say": str(i)} for i in range(20)]
    with FakeLLM(steps) as llm:
        out: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(5):
                _, r = call(llm.url + "/v1/chat/completions", chat_body(stream=False))
                with lock:
                    out.append(r["choices"][0]["message"]["content"])
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(out, key=int) == [str(i) for i in range(20)]
        assert sorted(r["step"] for r in llm.requests) == list(range(20))
        assert llm.remaining() == 0


def test_log_file(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with FakeLLM([{"say": "x"}], log_path=log) as llm:
        call(llm.url + "/v1/chat/completions", chat_body(stream=False, tools=None))
        call(llm.url + "/v1/chat/completions", chat_body(stream=False))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["kind"], r["tools"], r["step"], r["model"]) for r in lines] == \
        [("aux", False, None, "m1"), ("step", True, 0, "m1")]
    assert all("body" not in r for r in lines)
    assert all("body" in r for r in llm.requests)


# ------------------------------------------------------------------ command line


def test_cli_entry(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"shell": "echo hi > proof.txt"}]))
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown.fakellm", "--script", str(script), "--port", "0",
         "--log", str(log)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert int(url.rsplit(":", 1)[1]) > 0
        _, events = call(url + "/v1/messages?beta=true", anthropic_body())
        assert events[1][1]["content_block"]["name"] == "Bash"
        _, health = call(url + "/health", method="GET")
        assert health == {"ok": True, "remaining": 0}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert json.loads(log.read_text())["reply"] == "Bash"


def test_cli_rejects_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text(json.dumps([{"nope": 1}]))
    proc = subprocess.run([sys.executable, "-m", "gastown.fakellm", "--script", str(script)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "expected" in proc.stderr


# ------------------------------------------------------------------ gemini


GEMINI_TOOLS = [{"functionDeclarations": [{"name": "read_file", "parameters": {}},
                                          {"name": "run_shell_command", "parameters": {}}]}]


def gemini_body(tools: list[Any] | None = GEMINI_TOOLS) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}],
                            "systemInstruction": {"parts": [{"text": "You are an agent."}]}}
    if tools is not None:
        body["tools"] = tools
    return body


def test_gemini_stream_function_call_then_text(llm: FakeLLM) -> None:
    base = llm.url + "/v1beta/models/gem-1"
    status, events = call(base + ":streamGenerateContent?alt=sse", gemini_body())
    assert status == 200 and len(events) == 1 and events[0][0] is None
    cand = events[0][1]["candidates"][0]
    call_part = cand["content"]["parts"][0]["functionCall"]
    assert cand["content"]["role"] == "model" and cand["finishReason"] == "STOP"
    assert call_part["name"] == "run_shell_command"
    assert call_part["args"]["command"] == "echo hi > proof.txt"
    status, events = call(base + ":streamGenerateContent?alt=sse", gemini_body())
    texts = [e[1]["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    assert "".join(texts) == "all good" and len(texts) == 2
    assert "finishReason" not in events[0][1]["candidates"][0]
    usage = events[-1][1]["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    reqs = llm.requests
    assert [(r["api"], r["model"], r["stream"], r["step"]) for r in reqs] == [
        ("gemini", "gem-1", True, 0), ("gemini", "gem-1", True, 1)]
    assert reqs[0]["tool_names"] == ["read_file", "run_shell_command"]
    assert usage["candidatesTokenCount"] == reqs[1]["output_tokens"]


def test_gemini_non_streaming_json_side_request_and_count_tokens(llm: FakeLLM) -> None:
    base = llm.url + "/v1beta/models/gem-1"
    side = gemini_body(tools=None)
    side["generationConfig"] = {"responseMimeType": "application/json", "responseJsonSchema": {
        "type": "object", "properties": {"reasoning": {"type": "string"},
                                         "next_speaker": {"type": "string",
                                                          "enum": ["model", "user"]}}}}
    status, body = call(base + ":generateContent", side)
    answer = json.loads(body["candidates"][0]["content"]["parts"][0]["text"])
    assert status == 200 and answer == {"reasoning": "fake", "next_speaker": "user"}
    status, body = call(base + ":countTokens", gemini_body())
    assert status == 200 and body["totalTokens"] > 0
    status, body = call(base + ":embedContent", gemini_body())
    assert status == 404
    assert [r["kind"] for r in llm.requests] == ["aux"] and llm.remaining() == 2


def test_toolless_mode_answers_requests_without_tools_from_the_script() -> None:
    """aider sends no tools: with toolless its requests consume steps; summaries stay aux."""
    with FakeLLM([{"say": "edit reply"}], toolless=True) as server:
        _, summary = call(server.url + "/v1/chat/completions", chat_body(
            stream=False, tools=None, system="*Briefly* summarize this partial conversation"))
        _, body = call(server.url + "/v1/chat/completions", chat_body(stream=False, tools=None))
        assert summary["choices"][0]["message"]["content"] == AUX_TEXT
        assert body["choices"][0]["message"]["content"] == "edit reply"
        assert [r["kind"] for r in server.requests] == ["aux", "step"]
