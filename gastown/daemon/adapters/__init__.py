"""Agent CLI adapters by name."""

from __future__ import annotations

from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.scripted import ScriptedAdapter
from gastown.protocol import ErrorCode, RpcError

ADAPTERS: dict[str, type[Adapter]] = {"scripted": ScriptedAdapter}


def get(name: str) -> Adapter:
    cls = ADAPTERS.get(name)
    if cls is None:
        raise RpcError(ErrorCode.INVALID_PARAMS,
                       f"unknown agent adapter '{name}': use one of {', '.join(sorted(ADAPTERS))}")
    return cls()


__all__ = ["ADAPTERS", "Adapter", "TurnContext", "TurnResult", "get"]
