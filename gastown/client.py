"""Synchronous client for the daemon socket. Stdlib only: it is the agents' fast tool path.

`Client()` connects (starting the daemon on demand), says hello, and then `call()`s.
Errors come back as `RpcError`, whose code maps to the CLI's exit status.
"""

from __future__ import annotations

import _socket
import json
import os
import select
import sys
import time
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any, Iterator

from gastown import paths
from gastown.protocol import MAX_FRAME, NOTIFY_EVENT, PROTOCOL_VERSION, ErrorCode, Method, RpcError, request

if TYPE_CHECKING:
    from pathlib import Path

# The socket is `_socket`'s (the C module under `socket`): `socket` itself builds enums and
# imports `selectors` (~2 ms at every start) for wrappers a client never uses. Request ids are
# os.urandom's, not uuid's (uuid imports `platform`, ~1.5 ms). getpass, subprocess and pathlib
# are imported where used: the agents' tool path and most human commands never need them.

START_TIMEOUT = 15.0
AGENT_CONNECT_WAIT = float(os.environ.get("GT_AGENT_CONNECT_WAIT", "60"))
AGENT_RETRY_S = float(os.environ.get("GT_AGENT_RETRY_S", "120"))
RETRYABLE = frozenset({Method.TOOL_PRIME, Method.TOOL_DONE, Method.TOOL_STATUS, Method.TOOL_ESCALATE,
                       Method.BEAD_SHOW, Method.MAIL_INBOX, Method.PING, Method.TOOL_STEP_DONE})
"""Agent tool calls that are retried, with the same request id, when a daemon restart cuts
them: the daemon answers a repeated `done` with the first one's merge request."""


def login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return f"uid{os.getuid()}"


def actor() -> str:
    """Who is asking, the same on every path (sling, bead create, batch, dashboard, Mayor
    chat): GT_ACTOR, else the git identity `Name <email>` (what commits carry as Author),
    else the login name."""
    name = os.environ.get("GT_ACTOR")
    if name:
        return name
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # a removed working directory: git runs (and fails) there as before
        cwd = None
    key = (cwd, *sorted((k, v) for k, v in os.environ.items()
                        if k.startswith("GIT_") or k in ("HOME", "XDG_CONFIG_HOME")))
    if key not in _IDENTITY:
        _IDENTITY[key] = _git_identity()
    return _IDENTITY[key] or login()


_IDENTITY: dict[tuple[object, ...], str | None] = {}
"""The git identity per directory and git environment, read once per process: `gt sling` asks
twice (hello, requested_by) and each read is a git process (~2 ms)."""


def _git_identity() -> str | None:
    import subprocess

    try:  # one git process, not two: `--get` answers a key's last value, so the last line wins here
        lines = subprocess.run(["git", "config", "--get-regexp", r"^user\.(name|email)$"], capture_output=True,
                               text=True, timeout=5).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        lines = []
    found = dict(line.partition(" ")[::2] for line in lines)
    user, email = found.get("user.name", "").strip(), found.get("user.email", "").strip()
    return f"{user} <{email}>" if user and email else None


def start_daemon(timeout: float = START_TIMEOUT) -> None:
    """Start `python -m gastown.daemon` detached (own session), wait until it answers."""
    import subprocess

    log = paths.log_path()
    old = os.umask(0o077)  # GT_HOME and the log are private from their first byte
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gastown.daemon"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, close_fds=True, umask=0o077,
            )
    finally:
        os.umask(old)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _connectable(paths.socket_path()):
            return
        code = proc.poll()
        if code is not None and code != 4:  # 4: another daemon won the race; keep waiting for it
            raise RpcError(ErrorCode.UNAVAILABLE, f"the daemon exited with status {code}; see {log}")
        time.sleep(0.02)
    raise RpcError(ErrorCode.UNAVAILABLE, f"the daemon did not start within {timeout:.0f}s; see {log}")


def _connectable(path: Path) -> bool:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Client:
    def __init__(self, sock_path: Path | str | None = None, *, autostart: bool = True,
                 timeout: float | None = 600.0, town: str | None = None, token: str | None = None) -> None:
        """With an agent token (argument or GT_AGENT_TOKEN) it talks to the town's agent
        socket (GT_AGENT_SOCKET) as that agent, and never starts a daemon."""
        token = token or os.environ.get("GT_AGENT_TOKEN") or None
        if token and sock_path is None:
            agent_sock = os.environ.get("GT_AGENT_SOCKET")
            if not agent_sock:
                raise RpcError(ErrorCode.UNAVAILABLE, "GT_AGENT_TOKEN is set but GT_AGENT_SOCKET is not")
            sock_path, autostart = agent_sock, False  # a str: the agents' path never imports pathlib
        self.path = sock_path or paths.socket_path()
        self.town = town if town is not None else (os.environ.get("GT_TOWN") or None)
        self.token, self.autostart, self.timeout = token, autostart, timeout
        self.sock = self._connect(autostart, timeout, wait=AGENT_CONNECT_WAIT if token else 0.0)
        self.buf = b""
        self.next_id = 0
        self.pending_events: list[dict[str, Any]] = []
        self.server = self._hello()

    def _hello(self) -> Any:
        return self.call(Method.HELLO, protocol=PROTOCOL_VERSION, client="gt",
                         actor=None if self.token else actor(), token=self.token,
                         _town=False)

    def _peer_closed(self) -> bool:
        """True if the daemon closed this connection while we were not talking (its idle
        timeout, or a restart): nothing was in flight, so reconnecting is safe."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return False
        try:
            return self.sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def reconnect(self) -> None:
        self.sock.close()
        self.buf = b""
        self.sock = self._connect(self.autostart, self.timeout, wait=AGENT_CONNECT_WAIT if self.token else 0.0)
        self.buf = b""
        self.server = self._hello()

    def _connect(self, autostart: bool, timeout: float | None, wait: float = 0.0) -> _socket.socket:
        """Connect; an agent waits up to `wait` seconds, so a daemon restart mid-turn
        delays its `gt done` instead of losing it."""
        deadline = time.monotonic() + wait
        while True:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(str(self.path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                if not autostart:
                    raise RpcError(ErrorCode.UNAVAILABLE,
                                   f"the daemon is not running ({self.path} does not answer)") from None
            start_daemon()
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            sock.connect(str(self.path))
            break
        sock.settimeout(timeout)
        return sock

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_frame(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RpcError(ErrorCode.UNAVAILABLE, "the daemon closed the connection")
            self.buf += chunk
            if len(self.buf) > MAX_FRAME and b"\n" not in self.buf:
                raise RpcError(ErrorCode.FRAME_TOO_LARGE, "the daemon sent an oversized frame")
        line, self.buf = self.buf.split(b"\n", 1)
        frame: dict[str, Any] = json.loads(line)
        return frame

    def call(self, method: str, _town: bool = True, **params: Any) -> Any:
        """One request, one answer. `town` defaults to the client's town (None: the daemon picks)."""
        params = {k: v for k, v in params.items() if v is not None}
        if _town and self.town and "town" not in params:
            params["town"] = self.town
        if self.token and method in RETRYABLE:
            params.setdefault("request_id", os.urandom(16).hex())
            return self._call_retrying(method, params)
        return self._call_once(method, params)

    def _call_retrying(self, method: str, params: dict[str, Any]) -> Any:
        """An agent's tool call survives a daemon restart: a cut call is sent again (same
        request id) until it is answered or AGENT_RETRY_S have passed."""
        deadline = time.monotonic() + AGENT_RETRY_S
        while True:
            try:
                return self._call_once(method, params)
            except (OSError, RpcError) as exc:
                if isinstance(exc, RpcError) and exc.code != ErrorCode.UNAVAILABLE:
                    raise
                if time.monotonic() > deadline:
                    raise
                sys.stderr.write(f"gt: the daemon went away during {method}; retrying\n")
            while True:
                time.sleep(0.2)
                try:
                    self.reconnect()
                    break
                except (OSError, RpcError) as exc:
                    if (isinstance(exc, RpcError) and exc.code != ErrorCode.UNAVAILABLE) \
                            or time.monotonic() > deadline:
                        raise

    def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        if method != Method.HELLO and not self.buf and self._peer_closed():
            self.reconnect()
        self.next_id += 1
        self.sock.sendall(request(self.next_id, method, params))
        while True:
            frame = self._read_frame()
            if frame.get("method") == NOTIFY_EVENT:
                self.pending_events.append(frame["params"])
                continue
            if "error" in frame:
                raise RpcError.from_wire(frame["error"])
            return frame.get("result")

    def events(self, since: int | None = None) -> Iterator[dict[str, Any]]:
        """Subscribe and yield events forever (replaying seq > since first)."""
        self.call(Method.EVENTS_SUBSCRIBE, since=since)
        while True:
            while self.pending_events:
                yield self.pending_events.pop(0)
            frame = self._read_frame()
            if frame.get("method") == NOTIFY_EVENT:
                yield frame["params"]
