"""The common transcript of an agent turn: what every agent CLI did, in one event model.

Each adapter turns its CLI's own stream (JSON lines, or plain text for aider and the
scripted stand-in) into a list of :class:`Event`; the daemon stores it with the turn
(``TURN_DIR/transcript.jsonl``) and serves it (``agent.transcript``, ``bead.log``);
``gt agent logs`` and the dashboard render it with :func:`render`. Stdlib only: the CLI,
the daemon and the dashboard all import it, and it must stay cheap to render 10,000 events.

Kinds:
- ``text``: the assistant's words (``text``).
- ``tool_call``: a tool the agent called (``tool``, ``args`` — the shell command or a short
  form of the arguments, ``id``; ``path`` when the tool edits a file).
- ``tool_result``: how it went (``id``, ``exit`` code when the tool has one, ``ok``,
  ``lines`` of output, ``head``/``tail``: its first and last lines).
- ``edit``: a file the agent changed outside a tool call of its own (``path``, ``tool``).
- ``usage``: tokens of one model request or of the run (``tokens_in``, ``tokens_out``).
- ``error`` / ``warning``: what the CLI reported as failing (``text``).
- ``output``: a line the CLI printed outside its event stream (diagnostics, crashes).
- ``end``: written by the daemon when the turn is over (``exit``, ``reason``, the turn's
  ``tokens_in``/``tokens_out`` as the adapter accounts them).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

TRANSCRIPT_FILE = "transcript.jsonl"
HEAD, TAIL = 3, 3  # output lines kept from each end of a tool result
ARGS_MAX = 200  # characters of a tool call's argument summary
TEXT_MAX = 20_000  # characters of one assistant message kept


class Kind(str, Enum):
    TEXT = "text"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    EDIT = "edit"
    USAGE = "usage"
    ERROR = "error"
    WARNING = "warning"
    OUTPUT = "output"
    END = "end"


# the kinds as plain strings, for the hot loops (an Enum member's .value is a descriptor call)
TEXT, TOOL_CALL, TOOL_RESULT, EDIT, USAGE, ERROR, WARNING, OUTPUT, END = (k.value for k in Kind)

SHELL_TOOLS = frozenset({"bash", "shell", "exec_command", "run_shell_command", "local_shell", "command"})
EDIT_TOOLS = frozenset({"write", "edit", "multiedit", "patch", "apply_patch", "write_file", "replace",
                        "notebookedit", "str_replace_based_edit_tool", "create_file"})
PATH_KEYS = ("filePath", "file_path", "path", "notebook_path", "absolute_path", "filename")


@dataclass(slots=True)
class Event:
    kind: str
    text: str = ""
    tool: str = ""
    args: str = ""
    id: str = ""
    path: str = ""
    exit: int | None = None
    ok: bool | None = None
    lines: int = 0
    head: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that say something (compact on the wire and on disk)."""
        d: dict[str, Any] = {"kind": self.kind}
        for key in ("text", "tool", "args", "id", "path", "reason"):
            value = getattr(self, key)
            if value:
                d[key] = value
        for key in ("exit", "ok"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        for key in ("lines", "tokens_in", "tokens_out"):
            value = getattr(self, key)
            if value:
                d[key] = value
        if self.head:
            d["head"] = self.head
        if self.tail:
            d["tail"] = self.tail
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        try:
            return cls(**d)
        except TypeError:  # unknown keys (from a newer writer) are ignored
            names = cls.__dataclass_fields__
            return cls(**{k: v for k, v in d.items() if k in names})


# ----------------------------------------------------------------------------- building events
def text(words: str) -> Event:
    return Event(TEXT, text=words.strip()[:TEXT_MAX])


def shell_command(cmd: Any) -> str:
    """The command a shell tool ran, without a `bash -lc '…'` wrapper (codex adds one)."""
    if isinstance(cmd, list):
        parts = [str(c) for c in cmd]
        if len(parts) >= 3 and Path(parts[0]).name in ("bash", "sh", "zsh") and parts[1] in ("-lc", "-c"):
            return str(parts[2])
        return shlex.join(parts)
    line: str = str(cmd or "")
    m = re.match(r"^(?:/usr)?(?:/bin/)?(?:ba|z)?sh -l?c (.+)$", line, re.S)
    if m:
        try:
            inner = shlex.split(m.group(1))
        except ValueError:
            return line
        if len(inner) == 1:
            return inner[0]
    return line


def summarize_args(args: Any) -> str:
    """A one-line form of a tool's arguments: the command, the path, else compact JSON."""
    if isinstance(args, dict):
        for key in ("command", "cmd"):
            if key in args:
                return clip(shell_command(args[key]))
        for key in (*PATH_KEYS, "pattern", "query", "url", "prompt", "description"):
            if isinstance(args.get(key), str) and args[key]:
                return clip(args[key])
        try:
            return clip(json.dumps(args, separators=(",", ":"), ensure_ascii=False))
        except (TypeError, ValueError):
            return clip(str(args))
    return clip(shell_command(args) if isinstance(args, (str, list)) else str(args))


def clip(s: str, n: int = ARGS_MAX) -> str:
    s = " ".join(s.split()) if "\n" in s else s
    return s if len(s) <= n else s[: n - 1] + "…"


def tool_call(tool: str, args: Any, call_id: str = "") -> Event:
    """A tool call; an editing tool also names its file (`path`)."""
    path = ""
    if tool.lower() in EDIT_TOOLS and isinstance(args, dict):
        path = next((str(args[k]) for k in PATH_KEYS if isinstance(args.get(k), str) and args[k]), "")
    return Event(TOOL_CALL, tool=tool, args=summarize_args(args), id=str(call_id or ""), path=path)


def tool_result(call_id: str, output: Any, exit_code: int | None = None, ok: bool | None = None) -> Event:
    """How a tool call went: exit code (when it has one), and the first and last lines."""
    body = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False) if output else ""
    lines = body.replace("\r\n", "\n").rstrip("\n").split("\n") if body.strip() else []
    if ok is None:
        ok = exit_code == 0 if exit_code is not None else True
    head = [clip(ln, 300) for ln in lines[:HEAD]]
    tail = [clip(ln, 300) for ln in lines[max(HEAD, len(lines) - TAIL):]]
    return Event(TOOL_RESULT, id=str(call_id or ""), exit=exit_code, ok=ok, lines=len(lines),
                 head=head, tail=tail)


def usage(tokens_in: int, tokens_out: int) -> Event:
    return Event(USAGE, tokens_in=tokens_in, tokens_out=tokens_out)


def error(message: str, kind: Kind = Kind.ERROR) -> Event:
    return Event(kind.value, text=clip(message.strip(), 2000))


def end(exit_code: int | None, reason: str, tokens_in: int, tokens_out: int) -> Event:
    return Event(END, exit=exit_code, reason=reason, tokens_in=tokens_in, tokens_out=tokens_out)


# ----------------------------------------------------------------------------- storing
def dump(events: Iterable[Event], path: Path) -> None:
    """Write the transcript atomically next to the turn's output."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in events))
    tmp.replace(path)


def load(path: Path) -> list[Event] | None:
    """The stored transcript, or None when the turn has none (still running, or older)."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    return [Event.from_dict(json.loads(line)) for line in raw.splitlines() if line.strip()]


def as_dicts(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events]


def from_dicts(items: Iterable[dict[str, Any]]) -> list[Event]:
    return [Event.from_dict(d) for d in items]


# ----------------------------------------------------------------------------- reading
def tokens(events: Iterable[Event]) -> tuple[int, int]:
    """The turn's tokens: the daemon's `end` figures when present, else the usage events summed."""
    t_in = t_out = 0
    for e in events:
        if e.kind == END and (e.tokens_in or e.tokens_out):
            return e.tokens_in, e.tokens_out
        if e.kind == USAGE:
            t_in, t_out = t_in + e.tokens_in, t_out + e.tokens_out
    return t_in, t_out


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.S)


def status_from(events: Iterable[Event]) -> str:
    """A status line for an agent that did not set one: the latest message's first Markdown
    heading, else its first sentence (at most 120 characters)."""
    last = ""
    for e in events:
        if e.kind == TEXT and e.text.strip():
            last = e.text
    if not last:
        return ""
    m = _HEADING.search(last)
    if m:
        return clip(m.group(1).strip(), 120)
    flat = " ".join(last.split())
    s = _SENTENCE.match(flat)
    return clip((s.group(1) if s else flat).strip(), 120)


# ----------------------------------------------------------------------------- rendering
ARROW, EDIT_MARK = "▶", "✎"


def _outcome(result: Event | None) -> str:
    if result is None:
        return "  …"
    if result.exit is not None:
        return f"  → exit {result.exit}"
    return "  → ok" if result.ok is not False else "  → failed"


def _output_lines(result: Event, indent: str = "    ") -> Iterator[str]:
    """A failed tool's output (first and last lines, with a count of what was left out)."""
    if result.ok is not False or not result.lines:
        return
    for ln in result.head:
        yield indent + ln
    hidden = result.lines - len(result.head) - len(result.tail)
    if hidden > 0:
        yield f"{indent}… {hidden} more line{'s' if hidden != 1 else ''}"
    for ln in result.tail:
        yield indent + ln


def stable(events: list[Event]) -> int:
    """How many leading events of a running turn's transcript are final: up to the first
    call still waiting for its result, and not a trailing message that may still grow."""
    answered = {e.id for e in events if e.kind == TOOL_RESULT and e.id}
    for i, e in enumerate(events):
        if e.kind == TOOL_CALL and e.id and e.id not in answered:
            return i
    if events and events[-1].kind in (TEXT, TOOL_CALL):
        return len(events) - 1
    return len(events)


def render(events: list[Event], *, show_end: bool = True, start: int = 0, stop: int | None = None) -> Iterator[str]:
    """Lines for people: `▶ bash  pytest -q  → exit 0`, the assistant's words, errors, and
    the turn's tokens at the end. A call and its result share one line. `start`/`stop`
    render a slice (for following a running turn) with results looked up in all events."""
    results: dict[str, Event] = {}
    for e in events:
        if e.kind == TOOL_RESULT and e.id:
            results[e.id] = e
    pending: Event | None = None  # an id-less call waits for the next id-less result
    for e in events[start:stop]:
        kind = e.kind
        if kind == TOOL_CALL:
            if pending is not None:
                yield _call_line(pending, None)
            if e.id:
                res = results.get(e.id)
                yield _call_line(e, res)
                if res is not None:
                    yield from _output_lines(res)
                pending = None
            else:
                pending = e
        elif kind == TOOL_RESULT:
            if e.id and e.id in results:
                continue  # shown with its call
            if pending is not None:
                yield _call_line(pending, e)
                pending = None
            else:
                yield f"{ARROW} (tool){_outcome(e)}"
            yield from _output_lines(e)
        else:
            if pending is not None:
                yield _call_line(pending, None)
                pending = None
            yield from _other_lines(e, show_end)
    if pending is not None:
        yield _call_line(pending, None)
    if show_end and stop is None and not any(e.kind == END for e in events):
        t_in, t_out = tokens(events)
        if t_in or t_out:
            yield f"tokens: {t_in:,} in · {t_out:,} out"


def _call_line(call: Event, result: Event | None) -> str:
    mark = EDIT_MARK if call.path else ARROW
    return f"{mark} {call.tool}  {call.path or call.args}{_outcome(result)}"


def _other_lines(e: Event, show_end: bool) -> Iterator[str]:
    kind = e.kind
    if kind == TEXT:
        yield from e.text.split("\n")
    elif kind == EDIT:
        yield f"{EDIT_MARK} {e.tool or 'edit'}  {e.path}"
    elif kind == ERROR:
        yield f"✗ error: {e.text}"
    elif kind == WARNING:
        yield f"! {e.text}"
    elif kind == OUTPUT:
        yield f"│ {e.text}"
    elif kind == END and show_end:
        line = f"■ turn ended: {e.reason or 'exit'}" + (f" (exit {e.exit})" if e.exit is not None else "")
        yield line + (f" · tokens: {e.tokens_in:,} in · {e.tokens_out:,} out" if e.tokens_in or e.tokens_out else "")


def render_text(events: list[Event], *, show_end: bool = True) -> str:
    return "".join(line + "\n" for line in render(events, show_end=show_end))
