"""Agent CLI adapters by name."""

from __future__ import annotations

from gastown.daemon.adapters.aider import AiderAdapter
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.claude import ClaudeAdapter
from gastown.daemon.adapters.codex import CodexAdapter
from gastown.daemon.adapters.gemini import GeminiAdapter
from gastown.daemon.adapters.kilo import KiloAdapter
from gastown.daemon.adapters.opencode import OpencodeAdapter
from gastown.daemon.adapters.scripted import ScriptedAdapter
from gastown.protocol import ErrorCode, RpcError

ADAPTERS: dict[str, type[Adapter]] = {
    cls.name: cls for cls in (ScriptedAdapter, OpencodeAdapter, ClaudeAdapter, CodexAdapter, AiderAdapter,
                               KiloAdapter, GeminiAdapter)
}


def get(name: str) -> Adapter:
    cls = ADAPTERS.get(name)
    if cls is None:
        raise RpcError(ErrorCode.INVALID_PARAMS,
                       f"unknown agent adapter '{name}': use one of {', '.join(sorted(ADAPTERS))}")
    return cls()


__all__ = ["ADAPTERS", "Adapter", "TurnContext", "TurnResult", "get"]
