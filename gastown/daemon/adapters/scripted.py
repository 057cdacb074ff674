"""The `scripted` adapter: a deterministic stand-in agent for the demo and fast tests.

It is labelled as scripted everywhere it shows. It runs the bead's `script` (a list of
shell commands, from `gt sling --script`) in the worktree, in order; a command that
fails ends the turn as a crash; after the last one it commits everything with the bead
title as the message and runs `gt done`.
"""

from __future__ import annotations

import json
import sys

from gastown.daemon.adapters.base import Adapter, TurnContext


class ScriptedAdapter(Adapter):
    """Its reply text is what its steps print (the `[scripted …]` and `$ step` lines are framing)."""

    name = "scripted"
    binary = None

    def command(self, ctx: TurnContext) -> list[str]:
        return [sys.executable, "-m", "gastown.scripted"]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        meta = ctx.bead.get("metadata") or {}
        return {
            "HOME": str(ctx.home),
            "GT_SCRIPT": json.dumps(meta.get("script") or []),
            "GT_BEAD_TITLE": ctx.bead.get("title", ""),
        }

    def reply_text(self, text: str) -> str:
        lines = [ln for ln in text.replace("\r\n", "\n").splitlines()
                 if not ln.startswith(("[scripted agent", "$ ", "done: merge request"))]
        return "\n".join(lines).strip()
