"""Claude Code (`@anthropic-ai/claude-code`): `claude -p --output-format stream-json --verbose`.

The role prompt goes in with --append-system-prompt on every turn; resume is
`--resume <session_id>`, which only finds the session from the same cwd and HOME (the
polecat's worktree and home are both stable). ANTHROPIC_BASE_URL is given without `/v1`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gastown import transcript as tr

from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import (anthropic_base, as_int, json_events, stream_items, stripped_env,
                                            write_login_profile)

_EXIT = re.compile(r"^(?:Error: )?Exit code (\d+)\n?")


class ClaudeAdapter(Adapter):
    name = "claude"
    binary = "claude"
    package = "@anthropic-ai/claude-code@2.1.197"
    lost_session_markers = ("No conversation found with session ID",)

    def prepare(self, ctx: TurnContext) -> None:
        write_login_profile(ctx.home)  # its Bash tool snapshots a login shell's environment

    def command(self, ctx: TurnContext) -> list[str]:
        argv = [self.resolve_binary(), "-p", "--output-format", "stream-json", "--verbose",
                "--dangerously-skip-permissions"]
        if ctx.model:
            argv += ["--model", ctx.model]
        if ctx.system_prompt:
            argv += ["--append-system-prompt", ctx.system_prompt]
        if ctx.session_id:
            argv += ["--resume", ctx.session_id]
        return [*argv, ctx.prompt]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            **stripped_env(),  # includes CLAUDECODE: set, claude refuses a "nested" session
            "HOME": str(ctx.home), "PWD": str(ctx.worktree),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
            "IS_SANDBOX": "1",  # --dangerously-skip-permissions refuses root without it
        }
        if ctx.base_url:
            env["ANTHROPIC_BASE_URL"] = anthropic_base(ctx.base_url)
        if ctx.api_key:
            env["ANTHROPIC_API_KEY"] = ctx.api_key
        return env

    def reply_text(self, text: str) -> str:
        """The final `result` when there is one, else the assistant's text blocks so far."""
        parts: list[str] = []
        for ev in json_events(text):
            if ev.get("type") == "result" and isinstance(ev.get("result"), str):
                return str(ev["result"]).strip()
            if ev.get("type") == "assistant":
                for block in (ev.get("message") or {}).get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "text":
                        parts.append(str(block.get("text") or ""))
        return "\n".join(parts).strip()

    def parse_output(self, text: str, home: Path) -> TurnResult:
        """`session_id` on every event; the final `result` event's usage sums this
        invocation's requests (the `usage` inside `assistant` events is a start snapshot)."""
        result = TurnResult()
        for ev in json_events(text):
            if isinstance(ev.get("session_id"), str) and ev.get("type") in ("system", "result", "assistant", "user"):
                result.session_id = result.session_id or ev["session_id"]
            if ev.get("type") == "result":
                usage = ev.get("usage") or {}
                result.tokens_in += (as_int(usage.get("input_tokens")) + as_int(usage.get("cache_creation_input_tokens"))
                                     + as_int(usage.get("cache_read_input_tokens")))
                result.tokens_out += as_int(usage.get("output_tokens"))
        return result

    def transcript(self, text: str) -> list[tr.Event]:
        """`assistant` text/tool_use blocks, `user` tool_result blocks (a failed Bash result
        starts "Exit code N"), the `result` line's usage and error."""
        events: list[tr.Event] = []
        shells: set[str] = set()
        for ev in stream_items(text):
            if isinstance(ev, str):
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=ev))
                continue
            kind = ev.get("type")
            if kind == "assistant":
                for block in _blocks(ev):
                    if block.get("type") == "text" and str(block.get("text") or "").strip():
                        events.append(tr.text(str(block["text"])))
                    elif block.get("type") == "tool_use":
                        name = str(block.get("name") or "tool")
                        if name == "Bash":
                            shells.add(str(block.get("id")))
                        events.append(tr.tool_call(name, block.get("input") or {}, str(block.get("id") or "")))
            elif kind == "user":
                for block in _blocks(ev):
                    if block.get("type") == "tool_result":
                        events.append(_result(block, str(block.get("tool_use_id") or ""), shells))
            elif kind == "result":
                usage = ev.get("usage") or {}
                events.append(tr.usage(as_int(usage.get("input_tokens")) + as_int(usage.get("cache_creation_input_tokens"))
                                       + as_int(usage.get("cache_read_input_tokens")), as_int(usage.get("output_tokens"))))
                if ev.get("is_error") or ev.get("subtype") not in (None, "success"):
                    events.append(tr.error(str(ev.get("result") or ev.get("subtype") or "claude reported an error")))
        return events


def _blocks(ev: dict[str, Any]) -> list[dict[str, Any]]:
    content = (ev.get("message") or {}).get("content") or []
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _result(block: dict[str, Any], call_id: str, shells: set[str]) -> tr.Event:
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(c.get("text") or "") for c in content if isinstance(c, dict))
    body = str(content or "")
    failed = bool(block.get("is_error"))
    m = _EXIT.match(body)
    if m:
        return tr.tool_result(call_id, body[m.end():], int(m.group(1)))
    if call_id in shells:
        return tr.tool_result(call_id, body, 1 if failed else 0)
    return tr.tool_result(call_id, body, ok=not failed)
