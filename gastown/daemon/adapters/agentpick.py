"""Which agent CLI a new town uses: the one asked for, else the first installed real CLI.

The scripted stand-in is only ever used when asked for (`--agent scripted`, or
GT_DEFAULT_AGENT=scripted as the test suite and the demo do): a real `gt sling "fix the
login bug"` must never go to a script that does nothing. With no usable agent the town is
created anyway, and slinging work says why it cannot run and how to fix it.
"""

from __future__ import annotations

import os

from gastown.daemon import adapters
from gastown.protocol import ErrorCode, RpcError

PREFERENCE = ("claude", "codex", "opencode", "gemini", "aider", "kilo")
"""Detection order: the CLIs most people already have logged in come first."""

HINT = ("install an agent CLI (scripts/install-agents.sh NAME, or your own claude/codex/opencode/gemini/aider/kilo) "
        "and run 'gt config set agent.adapter NAME' (or 'scripted' for the deterministic stand-in)")


def choose(wanted: str | None) -> tuple[str, str]:
    """(adapter, why) for a new town; adapter is '' when nothing usable is installed.

    `wanted` None (a raw RPC caller said nothing) falls back to the daemon's
    GT_DEFAULT_AGENT; '' (what `gt town create` sends when not asked) always detects."""
    if wanted is None:
        wanted = os.environ.get("GT_DEFAULT_AGENT") or None
    if wanted:
        adapter = adapters.get(wanted)
        adapter.check()  # asked for but not installed: refused with the install hint
        return wanted, "as asked" + (" (the deterministic stand-in, not a real agent)" if wanted == "scripted" else "")
    for name in PREFERENCE:
        try:
            path = adapters.get(name).resolve_binary()
        except RpcError:
            continue
        return name, f"detected {path}"
    return "", f"no agent CLI found: {HINT}"


def usable(adapter: str) -> None:
    """Refuse work that could not run: no agent chosen, or its CLI is not installed here."""
    if not adapter:
        raise RpcError(ErrorCode.INVALID_STATE, f"this town has no agent to do the work: {HINT}")
    try:
        adapters.get(adapter).check()
    except RpcError as exc:
        raise RpcError(ErrorCode.INVALID_STATE, f"agent '{adapter}' cannot run: {exc.message}") from None
