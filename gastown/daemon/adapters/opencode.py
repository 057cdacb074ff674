"""opencode (`opencode-ai`, pinned in docs/agent-clis.md): `opencode run --format json`.

Config travels in OPENCODE_CONFIG_CONTENT (an OpenAI-compatible provider `gastown` when
agent.base_url is set); the role prompt goes in as an `instructions` file, which opencode
appends to its own prompt. Sessions live under the agent's XDG data dir; resume is
`--session ses_…`. opencode takes the project dir from $PWD (and --dir), not the cwd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gastown import transcript as tr
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import (as_int, obj, json_events, openai_base, stream_items, stripped_env,
                                            write_login_profile)

PROVIDER = "gastown"
INSTRUCTIONS = "gastown-instructions.md"


class OpencodeAdapter(Adapter):
    name = "opencode"
    binary = "opencode"
    package = "opencode-ai@1.18.33"
    env_prefix = "OPENCODE"

    def xdg(self, home: Path) -> dict[str, str]:
        return {"XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local" / "state")}

    def prepare(self, ctx: TurnContext) -> None:
        write_login_profile(ctx.home)
        for d in self.xdg(ctx.home).values():
            Path(d).mkdir(parents=True, exist_ok=True)
        path = ctx.home / INSTRUCTIONS
        if ctx.system_prompt:
            path.write_text(ctx.system_prompt if ctx.system_prompt.endswith("\n") else ctx.system_prompt + "\n")
        elif path.exists():
            path.unlink()

    def model_ref(self, ctx: TurnContext) -> str:
        if ctx.base_url:
            return f"{PROVIDER}/{ctx.model or 'default'}"
        return ctx.model  # `provider/model` in opencode's own catalogue, or "" for its default

    def config(self, ctx: TurnContext) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": False, "share": "disabled",
            "permission": {"bash": "allow", "edit": "allow", "external_directory": "allow"},
        }
        if ctx.base_url:
            model = ctx.model or "default"
            options = {"baseURL": openai_base(ctx.base_url)}
            if ctx.api_key:
                options["apiKey"] = ctx.api_key
            cfg["provider"] = {PROVIDER: {"npm": "@ai-sdk/openai-compatible", "name": "Gastown", "options": options,
                                          "models": {model: {"name": model, "tool_call": True}}}}
        ref = self.model_ref(ctx)
        if ref:
            cfg["model"] = cfg["small_model"] = ref
        if ctx.system_prompt:
            cfg["instructions"] = [str(ctx.home / INSTRUCTIONS)]
        return cfg

    def command(self, ctx: TurnContext) -> list[str]:
        argv = [self.resolve_binary(), "run", "--format", "json", "--dir", str(ctx.worktree)]
        if ctx.session_id:
            argv += ["--session", ctx.session_id]
        return [*argv, ctx.prompt]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        p = self.env_prefix
        return {
            **stripped_env(), **self.xdg(ctx.home),
            "HOME": str(ctx.home), "PWD": str(ctx.worktree),
            f"{p}_CONFIG_CONTENT": json.dumps(self.config(ctx)),
            f"{p}_DISABLE_MODELS_FETCH": "1", f"{p}_DISABLE_AUTOUPDATE": "1",
        }

    def reply_text(self, text: str) -> str:
        """The `text` parts of the run (one per message part, in order)."""
        return "\n".join(str((ev.get("part") or {}).get("text") or "") for ev in json_events(text)
                         if ev.get("type") == "text").strip()

    def parse_output(self, text: str, home: Path) -> TurnResult:
        """`sessionID` on every event; one `step_finish` per model request, not cumulative."""
        result = TurnResult()
        for ev in json_events(text):
            if result.session_id is None and isinstance(ev.get("sessionID"), str):
                result.session_id = ev["sessionID"]
            if ev.get("type") == "step_finish":
                tokens = (ev.get("part") or {}).get("tokens") or {}
                cache = tokens.get("cache") or {}
                result.tokens_in += as_int(tokens.get("input")) + as_int(cache.get("read")) + as_int(cache.get("write"))
                result.tokens_out += as_int(tokens.get("output"))
        return result

    def transcript(self, text: str) -> list[tr.Event]:
        """`tool_use` (call and result in one: `state.metadata.exit` for bash), `text`,
        `step_finish` usage per request, `error`."""
        events: list[tr.Event] = []
        for ev in stream_items(text):
            if isinstance(ev, str):
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=ev))
                continue
            kind, part = ev.get("type"), obj(ev.get("part"))
            if kind == "text" and str(part.get("text") or "").strip():
                events.append(tr.text(str(part["text"])))
            elif kind == "tool_use":
                events.extend(_tool_events(part))
            elif kind == "step_finish":
                tokens = part.get("tokens") or {}
                cache = tokens.get("cache") or {}
                events.append(tr.usage(as_int(tokens.get("input")) + as_int(cache.get("read"))
                                       + as_int(cache.get("write")), as_int(tokens.get("output"))))
            elif kind == "error":
                err = ev.get("error") or {}
                data = err.get("data") if isinstance(err, dict) else None
                msg = (data or {}).get("message") if isinstance(data, dict) else None
                events.append(tr.error(str(msg or (err.get("name") if isinstance(err, dict) else err) or "error")))
        return events


def _tool_events(part: dict[str, Any]) -> list[tr.Event]:
    state = obj(part.get("state"))
    call_id = str(part.get("callID") or part.get("id") or "")
    out = [tr.tool_call(str(part.get("tool") or "tool"), state.get("input") or {}, call_id)]
    status = state.get("status")
    if status == "completed":
        meta = obj(state.get("metadata"))
        code = meta.get("exit")
        out.append(tr.tool_result(call_id, state.get("output") or "", code if isinstance(code, int) else None))
    elif status == "error":
        out.append(tr.tool_result(call_id, str(state.get("error") or "failed"), ok=False))
    return out
