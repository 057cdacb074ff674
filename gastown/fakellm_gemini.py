"""The Gemini API dialect for :mod:`gastown.fakellm` (what the Gemini CLI speaks).

Why its own module: Gemini differs from the OpenAI/Anthropic shapes in every place that
matters — the model and the streaming switch live in the URL
(``POST /v1beta/models/MODEL:streamGenerateContent?alt=sse``), tools are
``tools[].functionDeclarations[]``, a tool call is a ``functionCall`` part of a ``model``
candidate, and usage is ``usageMetadata``. Stream chunks are plain ``data:`` SSE lines with
one ``GenerateContentResponse`` each and no terminator.

The CLI also makes side requests with no tools and ``responseMimeType: application/json``
(next-speaker checks, model routing, loop detection): those are auxiliary and get a small
JSON answer that tells the CLI the user speaks next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from gastown.fakellm_wire import JSON, Reply, new_id, sse

#: ``/v1beta/models/gemini-2.5-pro:generateContent`` → (model, method).
PATH_RE = re.compile(r"^/(?:v1beta|v1|v1alpha)/models/([^/:]+):([A-Za-z]+)$")
METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def parse_path(path: str) -> tuple[str, str] | None:
    """``(model, method)`` for a Gemini model-method path, or None for any other path."""
    m = PATH_RE.match(path)
    if m is None or m.group(2) not in METHODS:
        return None
    return m.group(1), m.group(2)


def tool_names(body: JSON) -> list[str]:
    """Names from ``tools[].functionDeclarations[].name``."""
    names: list[str] = []
    for tool in body.get("tools") or []:
        decls = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for d in decls if isinstance(decls, list) else []:
            if isinstance(d, dict) and isinstance(d.get("name"), str):
                names.append(d["name"])
    return names


def wants_json(body: JSON) -> bool:
    """A side request asking for structured JSON output (``generationConfig.responseMimeType``)."""
    cfg = body.get("generationConfig") or body.get("config") or {}
    return isinstance(cfg, dict) and cfg.get("responseMimeType") == "application/json"


def aux_json(body: JSON) -> str:
    """A JSON answer for a side request: fills the schema's string enums with their first
    value except ``next_speaker`` (always ``user``, so the turn ends), strings with a short
    text, booleans false, numbers 0."""
    cfg = body.get("generationConfig") or {}
    schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema") or {}
    return json.dumps(_fill(schema, ""))


def _fill(schema: Any, key: str) -> Any:
    if not isinstance(schema, dict):
        return "fake"
    kind = str(schema.get("type") or "object").lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _fill(v, k) for k, v in props.items()} if isinstance(props, dict) else {}
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("number", "integer"):
        return 0
    enum = schema.get("enum")
    if key == "next_speaker":
        return "user"
    if isinstance(enum, list) and enum:
        return enum[0]
    return "fake"


def count_tokens(n_tokens: int) -> JSON:
    return {"totalTokens": n_tokens}


def _usage(r: Reply) -> JSON:
    return {"promptTokenCount": r.input_tokens, "candidatesTokenCount": r.output_tokens,
            "totalTokenCount": r.input_tokens + r.output_tokens}


def _part(r: Reply) -> JSON:
    if r.tool is not None:
        return {"functionCall": {"id": new_id("call"), "name": r.tool, "args": r.args}}
    return {"text": r.text}


def response_json(r: Reply, model: str) -> JSON:
    """One ``GenerateContentResponse`` with a single candidate."""
    return {"candidates": [{"content": {"role": "model", "parts": [_part(r)]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": _usage(r), "modelVersion": model,
            "responseId": new_id("resp")}


def response_stream(r: Reply, model: str) -> Iterator[bytes]:
    """``alt=sse`` chunks: text in two pieces (so the CLI's delta joining is exercised), a tool
    call whole; usage and ``finishReason`` on the last chunk."""
    if r.tool is None and len(r.text) > 1:
        half = len(r.text) // 2
        first = Reply(text=r.text[:half], input_tokens=r.input_tokens, output_tokens=0)
        body = response_json(first, model)
        del body["candidates"][0]["finishReason"]
        yield sse(body)
        r = Reply(text=r.text[half:], input_tokens=r.input_tokens, output_tokens=r.output_tokens)
    yield sse(response_json(r, model))
