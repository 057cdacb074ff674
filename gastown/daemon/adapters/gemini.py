"""Gemini CLI (`@google/gemini-cli`): `gemini --output-format stream-json --approval-mode yolo -p`.

Proven against the real CLI and the fake model server's Gemini dialect
(tests/test_agent_clis.py::test_gemini_turn_and_resume). The role prompt has no append flag: it goes in the global context file
<home>/.gemini/GEMINI.md, which gemini adds to its own prompt (GEMINI_SYSTEM_MD would
replace it). Resume is `--resume <session_id>` (sessions are stored per project dir, so
the same cwd and HOME, like claude). GOOGLE_GEMINI_BASE_URL is given without `/v1`.
Its shell tool runs git with `core.hooksPath` forced empty, so Gastown's commit-msg hook
(the Bead-ID/Requested-by trailers) does not run for gemini commits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gastown import transcript as tr
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import (as_int, obj, bare_base, json_events, stream_items, stripped_env,
                                            write_login_profile)

SETTINGS: dict[str, dict[str, Any]] = {
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    # An API key (+ GOOGLE_GEMINI_BASE_URL): without this, a base URL alone selects the
    # "gateway" auth type, which headless mode rejects ("Invalid auth method selected.").
    "security": {"auth": {"selectedType": "gemini-api-key"}},
}


class GeminiAdapter(Adapter):
    name = "gemini"
    binary = "gemini"
    package = "@google/gemini-cli@0.61.0"

    def prepare(self, ctx: TurnContext) -> None:
        write_login_profile(ctx.home)
        gdir = ctx.home / ".gemini"
        gdir.mkdir(parents=True, exist_ok=True)
        settings = gdir / "settings.json"
        try:
            current = json.loads(settings.read_text())
        except (OSError, ValueError):
            current = {}
        if not isinstance(current, dict):
            current = {}
        for section, values in SETTINGS.items():
            old = current.get(section)
            current[section] = {**(old if isinstance(old, dict) else {}), **values}
        settings.write_text(json.dumps(current, indent=2) + "\n")
        memory = gdir / "GEMINI.md"
        if ctx.system_prompt:
            memory.write_text(ctx.system_prompt)
        elif memory.exists():
            memory.unlink()

    def command(self, ctx: TurnContext) -> list[str]:
        argv = [self.resolve_binary(), "--output-format", "stream-json", "--approval-mode", "yolo", "--skip-trust"]
        if ctx.model:
            argv += ["--model", ctx.model]
        if ctx.session_id:
            argv += ["--resume", ctx.session_id]
        return [*argv, "--prompt", ctx.prompt]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            **stripped_env(), "HOME": str(ctx.home), "PWD": str(ctx.worktree),
            "GEMINI_CLI_NO_RELAUNCH": "true",  # no second node process with a bigger heap
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            # Either one makes gemini strip every variable but a short allow-list from its shell
            # commands (GitHub Actions mode), and `gt done` needs the GT_* ones.
            "GITHUB_SHA": None, "SURFACE": None,
        }
        if ctx.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = bare_base(ctx.base_url)  # the API paths are /v1beta/…
        if ctx.api_key:
            env["GEMINI_API_KEY"] = ctx.api_key
        return env

    def reply_text(self, text: str) -> str:
        """The assistant's `message` contents, deltas joined."""
        return "".join(str(ev.get("content") or "") for ev in json_events(text)
                       if ev.get("type") == "message" and ev.get("role") == "assistant").strip()

    def parse_output(self, text: str, home: Path) -> TurnResult:
        """`init` carries `session_id`; the final `result` has this run's `stats`."""
        result = TurnResult()
        for ev in json_events(text):
            if ev.get("type") == "init" and isinstance(ev.get("session_id"), str):
                result.session_id = result.session_id or ev["session_id"]
            elif ev.get("type") == "result" and isinstance(ev.get("stats"), dict):
                stats = ev["stats"]
                result.tokens_in += as_int(stats.get("input_tokens"))
                result.tokens_out += as_int(stats.get("output_tokens"))
        return result

    def transcript(self, text: str) -> list[tr.Event]:
        """`message` (assistant deltas joined), `tool_use`/`tool_result` (by `tool_id`; the
        shell tool's output ends with its exit code), `error`, and `result` (stats, status)."""
        events: list[tr.Event] = []
        shells: set[str] = set()
        words: list[str] = []

        def flush() -> None:
            if "".join(words).strip():
                events.append(tr.text("".join(words)))
            words.clear()

        for ev in stream_items(text):
            if isinstance(ev, str):
                flush()
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=ev))
                continue
            kind = ev.get("type")
            if kind == "message" and ev.get("role") == "assistant":
                words.append(str(ev.get("content") or ""))
                if not ev.get("delta"):
                    flush()
                continue
            flush()
            if kind == "tool_use":
                tool_id, name = str(ev.get("tool_id") or ""), str(ev.get("tool_name") or "tool")
                if name == "run_shell_command":
                    shells.add(tool_id)
                events.append(tr.tool_call(name, ev.get("parameters") or {}, tool_id))
            elif kind == "tool_result":
                events.append(_result(ev, shells))
            elif kind == "error":
                events.append(tr.error(str(ev.get("message") or "error"),
                                       tr.Kind.WARNING if ev.get("severity") == "warning" else tr.Kind.ERROR))
            elif kind == "result":
                stats = obj(ev.get("stats"))
                events.append(tr.usage(as_int(stats.get("input_tokens")), as_int(stats.get("output_tokens"))))
                if ev.get("status") == "error":
                    err = obj(ev.get("error"))
                    events.append(tr.error(str(err.get("message") or "gemini reported an error")))
        flush()
        return events


_EXIT_CODE = re.compile(r"Exit Code: (-?\d+)")


def _result(ev: dict[str, Any], shells: set[str]) -> tr.Event:
    tool_id = str(ev.get("tool_id") or "")
    err = ev.get("error") if isinstance(ev.get("error"), dict) else None
    body = str(ev.get("output") or (err or {}).get("message") or "")
    failed = ev.get("status") == "error"
    m = _EXIT_CODE.search(body) if tool_id in shells else None
    if m:
        return tr.tool_result(tool_id, body, int(m.group(1)))
    # Recorded from gemini 0.61: a shell command that exits non-zero still reports
    # `"status": "success"` with only its output, so no exit code is claimed here.
    return tr.tool_result(tool_id, body, ok=not failed)
