"""codex (`@openai/codex`): `codex exec --json`, resume `codex exec resume --json <thread_id>`.

Config lives in $CODEX_HOME/config.toml (<home>/.codex), written before every turn: a
Responses-API provider `gastown` when agent.base_url is set, no approvals, full access
(the polecat's worktree is its sandbox). The role prompt is `-c developer_instructions=…`,
which keeps codex's own base prompt. `turn.completed.usage` is cumulative over the thread,
so the previous total is kept per thread in <home>/.codex/gastown-usage.json and this
turn's share is the difference.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gastown import transcript as tr
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import (as_int, obj, json_events, openai_base, stream_items, stripped_env,
                                            write_login_profile)

PROVIDER = "gastown"
KEY_VAR = "GT_CODEX_API_KEY"
USAGE_FILE = "gastown-usage.json"


def toml_str(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes)."""
    return json.dumps(value)


class CodexAdapter(Adapter):
    name = "codex"
    binary = "codex"
    package = "@openai/codex@0.169.0"
    lost_session_markers = ("no rollout found for thread id",)

    @staticmethod
    def codex_home(home: Path) -> Path:
        return home / ".codex"

    def config_toml(self, ctx: TurnContext) -> str:
        lines = []
        if ctx.model:
            lines.append(f"model = {toml_str(ctx.model)}")
        if ctx.base_url:
            lines.append(f"model_provider = {toml_str(PROVIDER)}")
        lines += ['approval_policy = "never"', 'sandbox_mode = "danger-full-access"',
                  "check_for_update_on_startup = false"]
        if ctx.base_url:
            lines += ["", f"[model_providers.{PROVIDER}]", 'name = "Gastown"',
                      f"base_url = {toml_str(openai_base(ctx.base_url))}", 'wire_api = "responses"',
                      f"env_key = {toml_str(KEY_VAR)}", "request_max_retries = 0", "stream_max_retries = 0"]
        return "\n".join(lines) + "\n"

    def prepare(self, ctx: TurnContext) -> None:
        write_login_profile(ctx.home)  # codex runs commands in `bash -lc`
        path = self.codex_home(ctx.home) / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.config_toml(ctx))
        os.replace(tmp, path)

    def command(self, ctx: TurnContext) -> list[str]:
        argv = [self.resolve_binary(), "exec"]
        if ctx.session_id:
            argv.append("resume")  # its options go after `resume`
        argv += ["--json", "--skip-git-repo-check"]
        if ctx.system_prompt:
            argv += ["-c", f"developer_instructions={toml_str(ctx.system_prompt)}"]
        if ctx.session_id:
            argv.append(ctx.session_id)
        return [*argv, ctx.prompt]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        env: dict[str, str | None] = {**stripped_env(), "HOME": str(ctx.home), "PWD": str(ctx.worktree),
                                      "CODEX_HOME": str(self.codex_home(ctx.home))}
        if ctx.api_key:
            env[KEY_VAR if ctx.base_url else "OPENAI_API_KEY"] = ctx.api_key
        return env

    def reply_text(self, text: str) -> str:
        """The `agent_message` items of the turn."""
        return "\n".join(str((ev.get("item") or {}).get("text") or "") for ev in json_events(text)
                         if ev.get("type") == "item.completed"
                         and (ev.get("item") or {}).get("type") == "agent_message").strip()

    def parse_output(self, text: str, home: Path) -> TurnResult:
        result = TurnResult()
        usage: dict[str, Any] | None = None
        for ev in json_events(text):
            if ev.get("type") == "thread.started" and result.session_id is None:
                result.session_id = ev.get("thread_id") if isinstance(ev.get("thread_id"), str) else None
            elif ev.get("type") == "turn.completed" and isinstance(ev.get("usage"), dict):
                usage = ev["usage"]  # cumulative over the thread: the last one is the total
        if usage is None:
            return result
        total_in, total_out = as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens"))
        result.tokens_in, result.tokens_out = self._delta(home, result.session_id, total_in, total_out)
        return result

    def transcript(self, text: str) -> list[tr.Event]:
        """`item.*` events: command_execution (call on start, result on completion),
        agent_message, file_change, error items (warnings); `turn.failed` and top-level
        `error` are errors. Usage is cumulative over the thread, so it is left to the
        daemon's `end` event (see parse_output)."""
        events: list[tr.Event] = []
        started: set[str] = set()
        for ev in stream_items(text):
            if isinstance(ev, str):
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=ev))
                continue
            kind, item = ev.get("type"), obj(ev.get("item"))
            if kind in ("item.started", "item.completed"):
                events.extend(_item_events(kind, item, started))
            elif kind == "turn.failed":
                events.append(tr.error(str((ev.get("error") or {}).get("message") or "turn failed")))
            elif kind == "error":
                events.append(tr.error(str(ev.get("message") or "error")))
        return events

    def _delta(self, home: Path, thread: str | None, total_in: int, total_out: int) -> tuple[int, int]:
        """This turn's share of the thread's cumulative usage; remembers the new total."""
        if not thread:
            return total_in, total_out
        path = self.codex_home(home) / USAGE_FILE
        try:
            seen = json.loads(path.read_text())
            if not isinstance(seen, dict):
                seen = {}
        except (OSError, ValueError):
            seen = {}
        prev = seen.get(thread) or {}
        prev_in, prev_out = as_int(prev.get("input")), as_int(prev.get("output"))
        if total_in < prev_in or total_out < prev_out:  # not the thread we remember: count it whole
            prev_in = prev_out = 0
        seen[thread] = {"input": total_in, "output": total_out}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(seen))
        os.replace(tmp, path)
        return total_in - prev_in, total_out - prev_out


def _item_events(kind: str, item: dict[str, Any], started: set[str]) -> list[tr.Event]:
    item_id, itype = str(item.get("id") or ""), item.get("type")
    if itype in ("command_execution", "mcp_tool_call"):
        tool = "shell" if itype == "command_execution" else str(item.get("tool") or "mcp")
        args = item.get("command") if itype == "command_execution" else item.get("arguments")
        out: list[tr.Event] = []
        if item_id not in started:
            started.add(item_id)
            out.append(tr.tool_call(tool, {"command": args} if itype == "command_execution" else args or {}, item_id))
        if kind == "item.completed":
            code = item.get("exit_code")
            body = item.get("aggregated_output") if itype == "command_execution" else item.get("result")
            out.append(tr.tool_result(item_id, body or "", code if isinstance(code, int) else None,
                                      ok=None if isinstance(code, int) else item.get("status") != "failed"))
        return out
    if kind != "item.completed":
        return []
    if itype == "agent_message" and str(item.get("text") or "").strip():
        return [tr.text(str(item["text"]))]
    if itype == "file_change":
        return [tr.Event(tr.Kind.EDIT.value, tool=str(c.get("kind") or "edit"), path=str(c.get("path") or ""))
                for c in item.get("changes") or [] if isinstance(c, dict)]
    if itype == "error":
        return [tr.error(str(item.get("message") or ""), tr.Kind.WARNING)]
    return []
