"""The `scripted` adapter: a deterministic stand-in agent for the demo and fast tests.

It is labelled as scripted everywhere it shows. It runs the bead's `script` (a list of
shell commands, from `gt sling --script`) in the worktree, in order; a command that
fails ends the turn as a crash; after the last one it commits everything with the bead
title as the message and runs `gt done`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from gastown import transcript as tr
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import plain_lines

_EXIT = re.compile(r"^\[scripted agent\] exit (-?\d+)$")

USAGE_RE = re.compile(r"^\[usage\] input=(\d+) output=(\d+)(?: cached=(\d+))?\s*$", re.M)
"""A step may report model usage the way a real CLI would (`echo "[usage] input=1200 output=80"`),
so costs and budgets are exercised without a model."""


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

    def parse_output(self, text: str, home: Path) -> TurnResult:
        result = TurnResult()
        for m in USAGE_RE.finditer(text.replace("\r\n", "\n")):
            result.tokens_in += int(m[1])
            result.tokens_out += int(m[2])
            result.tokens_cached += int(m[3] or 0)
        return result

    def reply_text(self, text: str) -> str:
        lines = [ln for ln in text.replace("\r\n", "\n").splitlines()
                 if not ln.startswith(("[scripted agent", "$ ", "done: merge request"))]
        return "\n".join(lines).strip()

    def transcript(self, text: str) -> list[tr.Event]:
        """`$ step` is a shell call, the lines up to `[scripted agent] exit N` its output;
        the `[scripted agent …]` banner says what the stand-in is."""
        events: list[tr.Event] = []
        call: tr.Event | None = None
        out: list[str] = []
        for line in plain_lines(text):
            m = _EXIT.match(line)
            if line.startswith("$ "):
                call = tr.tool_call("shell", {"command": line[2:]}, f"step{len(events)}")
                events.append(call)
                out = []
            elif m and call is not None:
                events.append(tr.tool_result(call.id, "\n".join(out), int(m.group(1))))
                call = None
            elif line.startswith("[scripted agent"):
                if "step failed" not in line and not m:
                    events.append(tr.text(line[1:].replace("] ", ": ", 1)))
            elif call is not None:
                out.append(line)
            elif line.strip():
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=line))
        return events
