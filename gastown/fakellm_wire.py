"""Wire formats for :mod:`gastown.fakellm`: request inspection and response encoding.

Why a separate module: the server logic (script queues, HTTP, logging) is independent of how
each agent CLI expects a model reply to be spelled. Three dialects exist here, and every real
CLI is strict about small details (event names, where ``usage`` sits, ``call_id`` vs ``id``),
so each encoder is written out plainly rather than derived from a shared abstraction.

- OpenAI chat completions (opencode, kilo, aider): ``delta.tool_calls`` chunks, ``[DONE]``.
- OpenAI Responses (codex): ``response.*`` events with ``function_call`` output items.
- Anthropic Messages (Claude Code): ``message_start`` … ``message_stop`` with ``tool_use``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

#: Shell tool names in preference order. The first one a request offers is used.
SHELL_TOOLS: tuple[str, ...] = (
    "bash", "Bash", "exec_command", "shell_command", "shell", "run_shell_command", "local_shell",
)

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """Unique, readable ids (``call_fake_7``) so logs from several CLIs are easy to correlate."""
    return f"{prefix}_fake_{next(_ids)}"


@dataclass
class Reply:
    """One model answer: either plain ``text`` or a single tool call ``tool(args)``.

    ``local_shell`` marks codex's built-in shell tool type, which is answered with a
    ``local_shell_call`` item instead of a ``function_call``.
    """

    text: str = ""
    tool: str | None = None
    args: JSON = field(default_factory=dict)
    local_shell: bool = False
    input_tokens: int = 1
    output_tokens: int = 1

    @property
    def arguments(self) -> str:
        """Tool arguments as the JSON string every wire format transports."""
        return json.dumps(self.args)


# ---------------------------------------------------------------- request inspection


def tool_names(body: JSON) -> list[str]:
    """Names of the tools a request offers, across all three dialects.

    chat: ``{"type": "function", "function": {"name": …}}``; responses and anthropic:
    ``{"name": …}``; built-in responses tools (``local_shell``, ``web_search``) have only a type.
    """
    names: list[str] = []
    tools = body.get("tools") or []
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        fn = t.get("function")
        name = fn.get("name") if isinstance(fn, dict) else t.get("name")
        name = name or t.get("type")
        if isinstance(name, str):
            names.append(name)
    for f in body.get("functions") or []:  # legacy chat "functions"
        if isinstance(f, dict) and isinstance(f.get("name"), str):
            names.append(f["name"])
    return names


def system_text(body: JSON) -> str:
    """The system prompt as plain text (anthropic ``system``, chat/responses system messages)."""
    parts: list[str] = []
    sysval = body.get("system") or body.get("instructions")
    parts.append(flatten_text(sysval))
    for m in body.get("messages") or body.get("input") or []:
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            parts.append(flatten_text(m.get("content")))
    return "\n".join(p for p in parts if p)


def flatten_text(value: Any) -> str:
    """Collect every ``text``/string leaf of a content value (string, block list, nested)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in (flatten_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("text", "content", "output"):
            if key in value:
                return flatten_text(value[key])
    return ""


_AUX_MARKERS = ("title generator", "generate a title", "generate a short title",
                "summarize this conversation", "summarize this partial conversation",
                "write a short summary")


def is_auxiliary(body: JSON, names: list[str]) -> bool:
    """True for requests that are not the agent's main loop and must not consume a step.

    Opencode asks for a session title and Claude Code makes background calls (quota probe,
    topic detection); both come without tools. A tool-carrying request is auxiliary only when
    tools are switched off (``tool_choice: none``) or its system prompt opens as a title/summary
    task — checked on the first 400 characters so long agent prompts never match by accident.
    """
    if not names or body.get("tool_choice") == "none":
        return True
    head = system_text(body)[:400].lower()
    return any(marker in head for marker in _AUX_MARKERS)


def shell_reply(names: list[str], cmd: str) -> Reply | None:
    """Build a call of the first shell tool offered, in that tool's own argument shape."""
    for tool in SHELL_TOOLS:
        if tool not in names:
            continue
        if tool in ("bash", "Bash", "run_shell_command"):
            return Reply(tool=tool, args={"command": cmd, "description": "run a command"})
        if tool == "exec_command":
            return Reply(tool=tool, args={"cmd": cmd})
        if tool == "shell_command":
            return Reply(tool=tool, args={"command": cmd})
        if tool == "shell":
            return Reply(tool=tool, args={"command": ["bash", "-lc", cmd]})
        return Reply(tool=tool, args={"command": ["bash", "-lc", cmd]}, local_shell=True)
    return None


def estimate_tokens(n_bytes: int) -> int:
    """Deterministic token count: one token per four bytes, at least one."""
    return max(1, n_bytes // 4)


# ---------------------------------------------------------------- SSE helpers


def sse(data: JSON | str, event: str | None = None) -> bytes:
    """One server-sent event; ``event:`` lines are used by the Responses and Anthropic APIs."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


# ---------------------------------------------------------------- OpenAI chat completions


def chat_usage(r: Reply) -> JSON:
    return {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens,
            "total_tokens": r.input_tokens + r.output_tokens}


def chat_tool_call(r: Reply, call_id: str) -> JSON:
    return {"id": call_id, "type": "function",
            "function": {"name": r.tool, "arguments": r.arguments}}


def chat_json(r: Reply, model: str) -> JSON:
    """Non-streaming ``chat.completion`` object."""
    msg: JSON = {"role": "assistant", "content": r.text if r.tool is None else None}
    if r.tool is not None:
        msg["tool_calls"] = [chat_tool_call(r, new_id("call"))]
    return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": msg,
                         "finish_reason": "tool_calls" if r.tool else "stop"}],
            "usage": chat_usage(r)}


def chat_stream(r: Reply, model: str) -> Iterator[bytes]:
    """Streaming chunks. Usage rides on the finish chunk (not a separate empty-``choices``
    chunk) because some clients index ``choices[0]`` unconditionally."""
    base: JSON = {"id": new_id("chatcmpl"), "object": "chat.completion.chunk",
                  "created": int(time.time()), "model": model}

    def chunk(delta: JSON, finish: str | None = None, **extra: Any) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra})

    if r.tool is not None:
        call_id = new_id("call")
        yield chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call_id, "type": "function",
             "function": {"name": r.tool, "arguments": ""}}]})
        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": r.arguments}}]})
        yield chunk({}, "tool_calls", usage=chat_usage(r))
    else:
        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"content": r.text})
        yield chunk({}, "stop", usage=chat_usage(r))
    yield sse("[DONE]")


# ---------------------------------------------------------------- OpenAI Responses


def responses_usage(r: Reply) -> JSON:
    return {"input_tokens": r.input_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": r.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": r.input_tokens + r.output_tokens}


def responses_item(r: Reply) -> JSON:
    """The completed output item (function call, local shell call or assistant message)."""
    if r.local_shell:
        return {"type": "local_shell_call", "id": new_id("lsh"), "call_id": new_id("call"),
                "status": "completed",
                "action": {"type": "exec", "command": r.args["command"], "env": {}}}
    if r.tool is not None:
        return {"type": "function_call", "id": new_id("fc"), "call_id": new_id("call"),
                "name": r.tool, "arguments": r.arguments, "status": "completed"}
    return {"type": "message", "id": new_id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": r.text, "annotations": []}]}


def responses_json(r: Reply, model: str, resp_id: str | None = None,
                   item: JSON | None = None) -> JSON:
    """Non-streaming ``response`` object (also the payload of ``response.completed``)."""
    return {"id": resp_id or new_id("resp"), "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": model, "output": [item or responses_item(r)],
            "usage": responses_usage(r)}


def responses_stream(r: Reply, model: str) -> Iterator[bytes]:
    """Streaming events in the order codex consumes them."""
    resp_id = new_id("resp")
    item = responses_item(r)
    seq = itertools.count()

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, event=kind)

    start = {"id": resp_id, "object": "response", "created_at": int(time.time()),
             "status": "in_progress", "model": model, "output": []}
    yield ev("response.created", response=start)
    yield ev("response.in_progress", response=start)
    if item["type"] == "message":
        iid = item["id"]
        yield ev("response.output_item.added", output_index=0,
                 item={**item, "status": "in_progress", "content": []})
        yield ev("response.content_part.added", item_id=iid, output_index=0, content_index=0,
                 part={"type": "output_text", "text": "", "annotations": []})
        yield ev("response.output_text.delta", item_id=iid, output_index=0, content_index=0,
                 delta=r.text)
        yield ev("response.output_text.done", item_id=iid, output_index=0, content_index=0,
                 text=r.text)
        yield ev("response.content_part.done", item_id=iid, output_index=0, content_index=0,
                 part=item["content"][0])
    elif item["type"] == "function_call":
        yield ev("response.output_item.added", output_index=0,
                 item={**item, "arguments": "", "status": "in_progress"})
        yield ev("response.function_call_arguments.delta", item_id=item["id"], output_index=0,
                 delta=item["arguments"])
        yield ev("response.function_call_arguments.done", item_id=item["id"], output_index=0,
                 arguments=item["arguments"])
    else:
        yield ev("response.output_item.added", output_index=0, item=item)
    yield ev("response.output_item.done", output_index=0, item=item)
    yield ev("response.completed", response=responses_json(r, model, resp_id, item))


# ---------------------------------------------------------------- Anthropic Messages


def anthropic_usage(r: Reply) -> JSON:
    return {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def anthropic_block(r: Reply) -> JSON:
    if r.tool is not None:
        return {"type": "tool_use", "id": new_id("toolu"), "name": r.tool, "input": r.args}
    return {"type": "text", "text": r.text}


def anthropic_json(r: Reply, model: str) -> JSON:
    """Non-streaming ``message`` object."""
    return {"id": new_id("msg"), "type": "message", "role": "assistant", "model": model,
            "content": [anthropic_block(r)],
            "stop_reason": "tool_use" if r.tool else "end_turn", "stop_sequence": None,
            "usage": anthropic_usage(r)}


def anthropic_stream(r: Reply, model: str) -> Iterator[bytes]:
    """Streaming events; the tool input arrives as one ``input_json_delta``."""
    msg = {**anthropic_json(r, model), "content": [], "stop_reason": None,
           "usage": {**anthropic_usage(r), "output_tokens": 1}}
    yield sse({"type": "message_start", "message": msg}, "message_start")
    block = anthropic_block(r)
    if r.tool is not None:
        yield sse({"type": "content_block_start", "index": 0,
                   "content_block": {**block, "input": {}}}, "content_block_start")
        delta: JSON = {"type": "input_json_delta", "partial_json": r.arguments}
    else:
        yield sse({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}, "content_block_start")
        delta = {"type": "text_delta", "text": r.text}
    yield sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield sse({"type": "message_delta",
               "delta": {"stop_reason": "tool_use" if r.tool else "end_turn",
                         "stop_sequence": None},
               "usage": {"output_tokens": r.output_tokens}}, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


# ---------------------------------------------------------------- model lists


def models_list(ids: list[str]) -> JSON:
    """One body that satisfies both OpenAI (``object``/``data[].id``) and Anthropic
    (``data[].type``/``display_name``, ``has_more``) model-list readers."""
    data = [model_info(i) for i in ids]
    return {"object": "list", "data": data, "has_more": False,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


def model_info(model_id: str) -> JSON:
    return {"id": model_id, "object": "model", "type": "model", "created": 0,
            "created_at": "2025-01-01T00:00:00Z", "owned_by": "fakellm",
            "display_name": model_id}
