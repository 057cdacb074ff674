"""The wire contract between `gt`, the TUI, agents and the daemon.

JSON-RPC 2.0, one JSON object per line (newline-delimited frames), no batches.
This module is the single source of method names, frame limits and error codes.
It is stdlib only and imports nothing from gastown, so every client (including the
agents' fast tool path) can load it in a few milliseconds.
"""

from __future__ import annotations

import enum
import json
import re
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
"""Bumped only for incompatible changes; additive changes keep the version."""

MAX_FRAME = 1 << 20
"""Largest frame (bytes, newline included) either side accepts."""

MAX_DEPTH = 64
"""Deepest nesting of arrays/objects a request may have (deeper: PARSE_ERROR)."""

MAX_INT = (1 << 63) - 1
"""Integer params must fit SQLite's signed 64 bits (checked by the daemon's registry)."""

_SURROGATE_ESCAPE = rb"\\u[dD][89a-fA-F]"
_SURROGATE = "[\ud800-\udfff]"
"""Patterns the daemon checks frames with, compiled on first use and kept by re's own cache: a
`gt` process never decodes a request, and compiling them costs it ~0.2 ms at every start."""


class Method:
    """Every RPC method name, `noun.verb`."""

    HELLO = "system.hello"
    PING = "system.ping"
    SHUTDOWN = "system.shutdown"
    STATUS = "system.status"

    TOWN_CREATE = "town.create"
    TOWN_LIST = "town.list"
    TOWN_SHOW = "town.show"
    TOWN_DELETE = "town.delete"

    CONFIG_GET = "config.get"
    CONFIG_SET = "config.set"

    RIG_ADD = "rig.add"
    RIG_LIST = "rig.list"
    RIG_SHOW = "rig.show"
    RIG_REMOVE = "rig.remove"

    BEAD_CREATE = "bead.create"
    BEAD_LIST = "bead.list"
    BEAD_SHOW = "bead.show"
    BEAD_UPDATE = "bead.update"
    BEAD_CLOSE = "bead.close"
    BEAD_REOPEN = "bead.reopen"
    BEAD_EVENTS = "bead.events"
    BEAD_DIFF = "bead.diff"
    DEP_ADD = "bead.dep_add"
    DEP_REMOVE = "bead.dep_remove"
    READY = "bead.ready"

    SLING = "work.sling"
    CONVOY_CREATE = "convoy.create"
    CONVOY_LIST = "convoy.list"
    CONVOY_SHOW = "convoy.show"
    CONVOY_START = "convoy.start"
    CONVOY_CLOSE = "convoy.close"
    MQ_LIST = "mq.list"
    MQ_SHOW = "mq.show"
    MQ_RETRY = "mq.retry"

    AGENT_LIST = "agent.list"
    AGENT_SHOW = "agent.show"
    AGENT_LOGS = "agent.logs"
    AGENT_STOP = "agent.stop"
    AGENT_RESET = "agent.reset"
    AGENT_NUDGE = "agent.nudge"
    AGENT_INPUT = "agent.input"

    MAIL_SEND = "mail.send"
    MAIL_INBOX = "mail.inbox"
    MAIL_READ = "mail.read"

    ESCALATION_CREATE = "escalation.create"
    ESCALATION_LIST = "escalation.list"
    ESCALATION_ACK = "escalation.ack"

    # agent tools: only on a town's agent socket, with the agent's token
    TOOL_PRIME = "tool.prime"
    TOOL_DONE = "tool.done"
    TOOL_STATUS = "tool.status"
    TOOL_ESCALATE = "tool.escalate"
    TOOL_REVIEW = "tool.review"
    TOOL_TRIAGE = "tool.triage"
    TOOL_PR_REPLY = "tool.pr_reply"
    FORGE_CHECK = "forge.check"

    COSTS = "town.costs"
    COSTS_BY = "costs.by"
    BUDGET_SET = "budget.set"
    BUDGET_SHOW = "budget.show"
    BUDGET_CLEAR = "budget.clear"
    STATS = "town.stats"
    BEAD_IMPORT = "bead.import"
    BEAD_EXPORT = "bead.export"
    IMPORT_ISSUES = "import.issues"
    MAYOR_SEND = "mayor.send"
    MAYOR_REPLY = "mayor.reply"

    EVENTS_SUBSCRIBE = "events.subscribe"
    EVENTS_UNSUBSCRIBE = "events.unsubscribe"

    # steering by hand (gastown.daemon.api.steer)
    BEAD_HOLD = "bead.hold"
    BEAD_RELEASE = "bead.release"
    BEAD_RETRY = "bead.retry"
    RIG_PARK = "rig.park"
    RIG_UNPARK = "rig.unpark"
    TOWN_PAUSE = "town.pause"
    TOWN_RESUME = "town.resume"
    TOWN_NOTICES = "town.notices"
    FORMULA_LIST = "formula.list"
    FORMULA_SHOW = "formula.show"
    FORMULA_CHECK = "formula.check"
    FORMULA_RUN = "formula.run"
    MOLECULE_LIST = "molecule.list"
    MOLECULE_SHOW = "molecule.show"
    MOLECULE_START = "molecule.start"
    BEAD_APPROVE = "bead.approve"
    PERSONA_LIST = "persona.list"
    PERSONA_SHOW = "persona.show"
    TOOL_STEP_DONE = "tool.step_done"
    RIG_SYNC = "rig.sync"
    RIG_FILES = "rig.files"

    # transcripts (gastown.daemon.api.transcript)
    AGENT_TRANSCRIPT = "agent.transcript"
    BEAD_LOG = "bead.log"
    CONVOY_DIFF = "convoy.diff"
    TOWN_FEED = "town.feed"
    TOWN_GLANCE = "town.glance"

    # staged convoy membership and archival (gastown.daemon.api.archive)
    CONVOY_ADD = "convoy.add"
    CONVOY_REMOVE = "convoy.remove"
    BEAD_ARCHIVE = "bead.archive"
    BEAD_UNARCHIVE = "bead.unarchive"
    MAYOR_HISTORY = "mayor.history"
    DOCTOR = "system.doctor"

    @classmethod
    def all(cls) -> frozenset[str]:
        return frozenset(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


NOTIFY_EVENT = "event"
"""Method name of the notifications a subscribed connection receives."""


class ErrorCode(enum.IntEnum):
    """JSON-RPC standard codes plus the application's own."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL = -32603
    # application codes
    NOT_FOUND = 1001
    ALREADY_EXISTS = 1002
    CONFLICT = 1003  # e.g. a dependency cycle, a status change that is not allowed
    INVALID_STATE = 1004
    VERSION_MISMATCH = 1005
    FORBIDDEN = 1006
    FRAME_TOO_LARGE = 1007
    EXTERNAL = 1008  # git, a container engine or an agent CLI failed or is missing
    UNAVAILABLE = 1009  # the daemon cannot be reached or started


EXIT_CODES: dict[int, int] = {
    ErrorCode.INTERNAL: 1,
    ErrorCode.PARSE_ERROR: 2,
    ErrorCode.INVALID_REQUEST: 2,
    ErrorCode.METHOD_NOT_FOUND: 2,
    ErrorCode.INVALID_PARAMS: 2,
    ErrorCode.FRAME_TOO_LARGE: 2,
    ErrorCode.NOT_FOUND: 3,
    ErrorCode.ALREADY_EXISTS: 4,
    ErrorCode.CONFLICT: 4,
    ErrorCode.INVALID_STATE: 5,
    ErrorCode.VERSION_MISMATCH: 6,
    ErrorCode.UNAVAILABLE: 7,
    ErrorCode.FORBIDDEN: 8,
    ErrorCode.EXTERNAL: 9,
}
"""One table from error code to the CLI's exit status (2 is also a usage error)."""


def exit_code(code: int) -> int:
    return EXIT_CODES.get(code, 1)


class RpcError(Exception):
    """An error that travels over the wire as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err

    @classmethod
    def from_wire(cls, err: dict[str, Any]) -> "RpcError":
        return cls(int(err.get("code", ErrorCode.INTERNAL)), str(err.get("message", "error")), err.get("data"))


def encode(obj: dict[str, Any]) -> bytes:
    """One frame: compact, strict JSON (never NaN/Infinity) plus newline. Raises RpcError if
    it exceeds MAX_FRAME. Text holding a lone surrogate (git output read with
    surrogateescape, say) falls back to ASCII escapes, so it is still sent, never dropped."""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode() + b"\n"
    except UnicodeEncodeError:
        data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    except ValueError as exc:  # NaN or Infinity in a result: a bug, but answer, do not drop
        raise RpcError(ErrorCode.INVALID_STATE, f"the answer is not strict JSON: {exc}") from None
    if len(data) > MAX_FRAME:
        raise RpcError(ErrorCode.FRAME_TOO_LARGE, f"frame of {len(data)} bytes exceeds the {MAX_FRAME}-byte limit")
    return data


def request(req_id: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    return encode({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}})


def response(req_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def error_response(req_id: Any, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_wire()}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _loads(line: bytes) -> Any:
    try:
        return json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise RpcError(ErrorCode.PARSE_ERROR, f"nesting deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RpcError(ErrorCode.PARSE_ERROR, f"malformed JSON frame: {str(exc)[:200]}") from None


def _shape_error(value: Any) -> str | None:
    """Why a decoded value cannot be served: too deep, or text holding a lone surrogate
    (valid JSON escapes, but not Unicode: it cannot be stored or echoed as UTF-8)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nesting deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if re.search(_SURROGATE, item):
                return "text holds a lone UTF-16 surrogate"
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


def _valid_id(req_id: Any) -> bool:
    if req_id is None or isinstance(req_id, float):
        return True
    if isinstance(req_id, int) and not isinstance(req_id, bool):
        return True
    return isinstance(req_id, str) and len(req_id) <= 200 and not re.search(_SURROGATE, req_id)


def decode_request(line: bytes) -> tuple[Any, str, dict[str, Any]]:
    """Parse and validate one request frame; returns (id, method, params).

    Raises RpcError with the request id in `data` where one could be read, so the
    server can answer the right request. Every frame gets an answer that is itself
    strict JSON: NaN/Infinity, over-deep nesting and lone surrogates are refused here.
    """
    obj = _loads(line)
    suspicious = line.count(b"[") + line.count(b"{") > MAX_DEPTH or re.search(_SURROGATE_ESCAPE, line)
    if not isinstance(obj, dict):
        if suspicious and _shape_error(obj):
            raise RpcError(ErrorCode.PARSE_ERROR, str(_shape_error(obj)))
        raise RpcError(ErrorCode.INVALID_REQUEST, "a frame must be a JSON object (batches are not supported)")
    req_id = obj.get("id")
    if not _valid_id(req_id):
        raise RpcError(ErrorCode.INVALID_REQUEST, '"id" must be a string (up to 200 characters), a number or null')
    ident = {"id": req_id}
    if obj.get("jsonrpc") != "2.0":
        raise RpcError(ErrorCode.INVALID_REQUEST, 'missing "jsonrpc": "2.0"', ident)
    method = obj.get("method")
    if not isinstance(method, str) or not method or len(method) > 100 or re.search(_SURROGATE, method):
        raise RpcError(ErrorCode.INVALID_REQUEST, '"method" must be a non-empty string of up to 100 characters',
                       ident)
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(ErrorCode.INVALID_PARAMS, '"params" must be an object', ident)
    if suspicious:
        problem = _shape_error(params)
        if problem is not None:
            code = ErrorCode.PARSE_ERROR if problem.startswith("nesting") else ErrorCode.INVALID_PARAMS
            raise RpcError(code, f"params: {problem}", ident)
    return req_id, method, params
