"""A fake model server so real agent CLIs can run turns with no network and no model.

Why: Gastown's adapters must be tested against the real opencode, claude and codex binaries
(their flags, session stores and output formats are what breaks), but a real model is neither
available nor deterministic. This server speaks the wire formats those CLIs use (OpenAI chat
and Responses, Anthropic Messages, and the Gemini API in :mod:`gastown.fakellm_gemini`) and
replays a script::

    [{"shell": "echo hi > proof.txt"}, {"say": "finished"}]

Each main-loop model request consumes the next step: ``shell`` becomes a call of whatever shell
tool the calling CLI offered (``bash``, ``Bash``, ``exec_command``, …) in that tool's argument
shape, ``say`` becomes a text answer. When the steps run out the answer is a short final text.
Auxiliary requests (no tools: titles, background calls) get text and consume nothing.
Several agents can share one server: ``{"scripts": {"MODEL": [...]}, "default": [...]}`` gives
each model name its own queue.

Run: ``python -m gastown.fakellm --script FILE [--port N] [--log FILE]``; it prints
``listening on http://127.0.0.1:PORT`` once ready. Stdlib only.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from gastown import fakellm_gemini as gemini
from gastown import fakellm_wire as wire
from gastown.fakellm_wire import JSON, Reply

FINAL_TEXT = "Done. (fakellm: no more scripted steps)"
AUX_TEXT = "Fake session"
DEFAULT_MODEL = "fake-model"

Step = dict[str, Any]


def validate_steps(steps: Any, where: str = "script") -> list[Step]:
    """Reject malformed scripts up front: a typo should fail the test, not confuse an agent."""
    if not isinstance(steps, list):
        raise ValueError(f"{where}: expected a list of steps")
    for i, step in enumerate(steps):
        ok = isinstance(step, dict) and (
            (set(step) == {"shell"} and isinstance(step["shell"], str))
            or (set(step) == {"say"} and isinstance(step["say"], str))
            or (set(step) == {"tool", "args"} and isinstance(step["tool"], str)
                and isinstance(step["args"], dict)))
        if not ok:
            raise ValueError(f"{where}[{i}]: expected {{'shell': CMD}} or {{'say': TEXT}}, "
                             f"got {step!r}")
    return list(steps)


class Script:
    """Step queues: one per model name plus a default. Not thread-safe; FakeLLM locks it."""

    def __init__(self, spec: list[Step] | JSON) -> None:
        self.queues: dict[str, collections.deque[Step]] = {}
        self.consumed: dict[str, int] = {}
        if isinstance(spec, dict):
            unknown = set(spec) - {"scripts", "default"}
            if unknown:
                raise ValueError(f"script: unknown keys {sorted(unknown)}")
            for model, steps in (spec.get("scripts") or {}).items():
                self.queues[model] = collections.deque(validate_steps(steps, model))
            self.queues[""] = collections.deque(validate_steps(spec.get("default", []),
                                                               "default"))
        else:
            self.queues[""] = collections.deque(validate_steps(spec))
        self.consumed = {k: 0 for k in self.queues}

    def queue_for(self, model: str) -> str:
        """Exact model name, then the part after a ``provider/`` prefix, then the default."""
        for key in (model, model.rsplit("/", 1)[-1]):
            if key and key in self.queues:
                return key
        return ""

    def pop(self, model: str) -> tuple[str, int, Step] | None:
        key = self.queue_for(model)
        if not self.queues[key]:
            return None
        index = self.consumed[key]
        self.consumed[key] += 1
        return key, index, self.queues[key].popleft()

    def remaining(self, model: str | None = None) -> int:
        if model is None:
            return sum(len(q) for q in self.queues.values())
        return len(self.queues[self.queue_for(model)])


def load_script(path: str | Path) -> Script:
    return Script(json.loads(Path(path).read_text()))


class FakeLLM:
    """The server. ``with FakeLLM([{"shell": "true"}]) as llm: ... llm.url ...``.

    ``requests`` is a list of dicts, one per model request: ``path``, ``api``, ``model``,
    ``stream``, ``tools`` (bool), ``tool_names``, ``kind`` (``step``/``aux``/``exhausted``),
    ``queue``, ``step`` (index within its queue or None), ``reply`` (tool name or ``text``),
    token counts, and ``body`` (the parsed request; kept in memory only, never in the log file).
    """

    def __init__(self, script: list[Step] | JSON | Script, host: str = "127.0.0.1",
                 port: int = 0, log_path: str | Path | None = None,
                 toolless: bool = False) -> None:
        self.script = script if isinstance(script, Script) else Script(script)
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else None
        # aider offers no tools at all: with toolless, a request without tools is a main-loop
        # request too (only title/summary prompts stay auxiliary).
        self.toolless = toolless
        self._requests: list[JSON] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeLLM:
        handler = type("Handler", (_Handler,), {"llm": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() fast (serve_forever checks for shutdown per poll).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fakellm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- inspection
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[JSON]:
        """A snapshot copy, safe to read while agents are still talking to the server."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def remaining(self, model: str | None = None) -> int:
        with self._lock:
            return self.script.remaining(model)

    def model_ids(self) -> list[str]:
        return [DEFAULT_MODEL] + [k for k in self.script.queues if k]

    # -- the one decision
    def answer(self, path: str, api: str, body: JSON, raw_len: int, model: str | None = None,
               stream: bool | None = None) -> Reply:
        """Choose the reply for one model request and record it. Gemini requests carry the
        model and the streaming switch in the URL, so the handler passes them in."""
        model = model or str(body.get("model") or DEFAULT_MODEL)
        names = gemini.tool_names(body) if api == "gemini" else wire.tool_names(body)
        rec: JSON = {"time": time.time(), "path": path, "api": api, "model": model,
                     "stream": bool(body.get("stream") if stream is None else stream),
                     "tools": bool(names), "tool_names": names, "queue": None, "step": None}
        with self._lock:
            aux = wire.is_auxiliary(body, names or (["(toolless)"] if self.toolless else []))
            popped = None if aux else self.script.pop(model)
            if aux and api == "gemini" and gemini.wants_json(body):
                reply, rec["kind"] = Reply(text=gemini.aux_json(body)), "aux"
            elif aux:
                reply, rec["kind"] = Reply(text=AUX_TEXT), "aux"
            elif popped is None:
                reply, rec["kind"] = Reply(text=FINAL_TEXT), "exhausted"
            else:
                rec["queue"], rec["step"], step = popped
                rec["queue"] = rec["queue"] or "default"
                rec["kind"] = "step"
                reply = self._step_reply(step, names)
            reply.input_tokens = wire.estimate_tokens(raw_len)
            out_chars = len(reply.arguments) if reply.tool else len(reply.text)
            reply.output_tokens = wire.estimate_tokens(out_chars)
            rec.update(reply=reply.tool or "text", input_tokens=reply.input_tokens,
                       output_tokens=reply.output_tokens, n=len(self._requests))
            if self.log_path is not None:
                with self.log_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
            self._requests.append({**rec, "body": body})
        return reply

    @staticmethod
    def _step_reply(step: Step, names: list[str]) -> Reply:
        if "say" in step:
            return Reply(text=step["say"])
        if "tool" in step:
            return Reply(tool=step["tool"], args=step["args"])
        reply = wire.shell_reply(names, step["shell"])
        if reply is None:
            return Reply(text=f"fakellm: no shell tool offered (tools: {', '.join(names)}); "
                              f"could not run: {step['shell']}")
        return reply


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; streams use chunked transfer encoding."""

    protocol_version = "HTTP/1.1"
    llm: FakeLLM  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Silence per-request stderr lines; the request log is the record."""

    # -- plumbing
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        enc = self.headers.get("Content-Encoding", "").lower()
        if enc == "gzip":
            return gzip.decompress(data)
        if enc == "deflate":
            return zlib.decompress(data)
        if enc not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {enc}")
        return data

    def _send_json(self, obj: JSON, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        kind = "not_found_error" if status == 404 else "invalid_request_error"
        self._send_json({"type": "error", "error": {"type": kind, "message": message,
                                                    "code": status}}, status)

    def _send_stream(self, events: Iterable[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for ev in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- routes
    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send_json(wire.models_list(self.llm.model_ids()))
        elif path.startswith(("/v1/models/", "/models/")):
            self._send_json(wire.model_info(path.rsplit("/", 1)[-1]))
        elif path in ("", "/health"):
            self._send_json({"ok": True, "remaining": self.llm.remaining()})
        else:
            self._send_error(404, f"no route for GET {path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        try:
            raw = self._read_body()
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("request body must be a JSON object")
        except ValueError as e:
            self._send_error(400, f"bad request: {e}")
            return
        if path in ("/v1/messages/count_tokens", "/messages/count_tokens"):
            self._send_json({"input_tokens": wire.estimate_tokens(len(raw))})
            return
        if (target := gemini.parse_path(path)) is not None:
            self._gemini(path, target, body, len(raw))
            return
        api = {"/v1/chat/completions": "chat", "/chat/completions": "chat",
               "/v1/responses": "responses", "/responses": "responses",
               "/v1/messages": "messages", "/messages": "messages"}.get(path)
        if api is None:
            self._send_error(404, f"no route for POST {path}")
            return
        reply = self.llm.answer(path, api, body, len(raw))
        model = str(body.get("model") or DEFAULT_MODEL)
        if body.get("stream"):
            stream = {"chat": wire.chat_stream, "responses": wire.responses_stream,
                      "messages": wire.anthropic_stream}[api]
            self._send_stream(stream(reply, model))
        else:
            encode = {"chat": wire.chat_json, "responses": wire.responses_json,
                      "messages": wire.anthropic_json}[api]
            self._send_json(encode(reply, model))

    def _gemini(self, path: str, target: tuple[str, str], body: JSON, raw_len: int) -> None:
        """``models/MODEL:generateContent`` / ``:streamGenerateContent`` / ``:countTokens``."""
        model, method = target
        if method == "countTokens":
            self._send_json(gemini.count_tokens(wire.estimate_tokens(raw_len)))
            return
        stream = method == "streamGenerateContent"
        reply = self.llm.answer(path, "gemini", body, raw_len, model=model, stream=stream)
        if stream:
            self._send_stream(gemini.response_stream(reply, model))
        else:
            self._send_json(gemini.response_json(reply, model))

    def _other_method(self) -> None:
        self._send_error(404, f"no route for {self.command} {urlsplit(self.path).path}")

    do_PUT = do_PATCH = do_DELETE = _other_method


def main(argv: list[str] | None = None) -> int:
    """CLI entry: serve until SIGINT/SIGTERM."""
    ap = argparse.ArgumentParser(prog="python -m gastown.fakellm",
                                 description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--script", required=True, help="JSON list of steps, or "
                    '{"scripts": {MODEL: [...]}, "default": [...]}')
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed)")
    ap.add_argument("--log", help="append one JSON line per model request to this file")
    ap.add_argument("--toolless", action="store_true",
                    help="requests without tools consume steps too (for aider, which has none)")
    args = ap.parse_args(argv)
    try:
        script = load_script(args.script)
    except (OSError, ValueError) as e:
        print(f"fakellm: {e}", file=sys.stderr)
        return 2
    llm = FakeLLM(script, host=args.host, port=args.port, log_path=args.log,
                  toolless=args.toolless).start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"listening on {llm.url}", flush=True)
    while not done.wait(0.5):
        pass
    llm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
