"""Property-based fuzzing of the wire against a real daemon process.

Every generated frame gets an answer (an oversized one gets FRAME_TOO_LARGE and then the
connection closes), no answer is INTERNAL, and the daemon's log holds no traceback.
Frames are sent in batches per generated example so 10,000 frames stay within seconds.
"""

from __future__ import annotations

import json
import socket
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gastown import paths
from gastown.daemon import api  # noqa: F401  (registers the handlers)
from gastown.daemon.edge.rpc import REGISTRY
from gastown.protocol import MAX_FRAME, NOTIFY_EVENT, PROTOCOL_VERSION, ErrorCode, Method

pytestmark = pytest.mark.slow

FRAMES = 10_000
BATCH = 25
# methods that would end the run (shutdown, deleting the town) or start real agents
SKIP = {Method.SHUTDOWN, Method.TOWN_DELETE, Method.TOWN_CREATE, Method.MAYOR_SEND, Method.SLING,
        Method.CONVOY_START, Method.RIG_ADD, Method.RIG_REMOVE, Method.EVENTS_SUBSCRIBE}
METHODS = sorted(m for m in Method.all() if m in REGISTRY and m not in SKIP)

NASTY_STR = st.sampled_from([
    "", " ", "\x00", "\x00\x00", "\ud800", "a\udfffb", "fx", "FX-", "fx-", "-", "%", "_", "\\",
    "x" * 70_000, "\u202e", "\U0001f600", "null", "NaN",
])
NASTY_INT = st.sampled_from([0, -1, 1, 2**31, 2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), NASTY_INT, st.floats(allow_nan=False,
                   allow_infinity=False), st.text(max_size=40), NASTY_STR)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)


def typed(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the declared type, mostly nasty ones, sometimes any JSON at all."""
    args = typing.get_args(hint) or (hint,)
    options: list[st.SearchStrategy[Any]] = []
    if str in args:
        options += [NASTY_STR, NASTY_STR, st.text(max_size=20), IDS]
    if int in args:
        options += [NASTY_INT, st.integers(-5, 300)]
    if bool in args:
        options += [st.booleans()]
    if any(typing.get_origin(a) is list for a in args):
        options += [st.lists(NASTY_STR | IDS, max_size=3)]
    if any(typing.get_origin(a) is dict for a in args):
        options += [st.dictionaries(NASTY_STR, JSON, max_size=3)]
    return st.integers(0, 9).flatmap(lambda n: JSON if n == 0 or not options else st.one_of(*options))


IDS = st.sampled_from(["fx-", "FX-", "fx", " "])  # extended with the town's real ids by the fixture


@st.composite
def request_frame(draw: st.DrawFn) -> bytes:
    """A request for a real method (mostly) with its required params present and typed, and
    nasty values: the frames that get past the generic checks into the handlers."""
    pick = draw(st.integers(0, 19))
    method = draw(NASTY_STR if pick == 0 else st.text(max_size=12) if pick == 1 else st.sampled_from(METHODS))
    params: dict[str, Any] = {}
    if method in REGISTRY:
        spec = REGISTRY[method]
        for name in sorted(spec.required):
            params[name] = draw(typed(spec.hints[name]))
        for name in draw(st.lists(st.sampled_from(sorted(spec.optional)), max_size=3, unique=True)
                         if spec.optional else st.just([])):
            params[name] = draw(typed(spec.hints[name]))
    if draw(st.integers(0, 19)) == 0:
        params[draw(st.text(max_size=8))] = draw(JSON)
    pick = draw(st.integers(0, 9))
    req_id = draw(st.one_of(NASTY_INT, NASTY_STR, st.none(), JSON) if pick == 0 else st.integers(0, 10**6))
    obj = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}
    return json.dumps(obj).encode()


RAW = st.sampled_from([
    b"[" * 5000 + b"]" * 5000,
    b'{"jsonrpc":"2.0","id":1,"method":"bead.list","params":' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
    b'{"jsonrpc":"2.0","id":NaN,"method":"system.ping"}',
    b'{"jsonrpc":"2.0","id":Infinity,"method":"system.ping"}',
    b'{"jsonrpc":"2.0","id":-Infinity,"method":"system.ping"}',
    b'{"jsonrpc":"2.0","id":1e400,"method":"system.ping"}',
    b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
    b'{"jsonrpc":"2.0","id":"\\udc00","method":"system.ping"}',
    b'{"jsonrpc":"2.0","id":1,"method":"bead.show","params":{"id":"\\ud800"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"bead.show","params":{"\\ud800":1}}',
    b'{"jsonrpc":"2.0","id":1,"method":"bead.list","params":{"limit":9223372036854775808}}',
    b'{"jsonrpc":"2.0","id":1,"method":"bead.list","params":{"offset":99999999999999999999999}}',
    b"\xff\xfe\x00garbage",
    b"null", b"[]", b"1", b'"x"', b"{}",
])
BYTES = st.binary(min_size=1, max_size=64).map(lambda b: b.replace(b"\n", b" "))


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    """Mostly requests for real methods (they reach the handlers), some hand-made nasty
    frames and some random bytes."""
    pick = draw(st.integers(0, 19))
    return draw(RAW if pick == 0 else BYTES if pick == 1 else request_frame())


FRAME = frame()


def _not_json(token: str) -> Any:
    raise AssertionError(f"the daemon sent {token}, which is not JSON")


class Wire:
    """One connection that has said hello; reconnects after the daemon closes it."""

    def __init__(self) -> None:
        self.s: socket.socket | None = None
        self.buf = b""
        self.answers = 0

    def connect(self) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(str(paths.socket_path()))
        self.buf = b""
        hello = self.exchange(json.dumps({"jsonrpc": "2.0", "id": 0, "method": Method.HELLO,
                                          "params": {"protocol": PROTOCOL_VERSION, "actor": "fuzz"}}).encode())
        assert hello is not None and "result" in hello, hello

    def read(self) -> dict[str, Any] | None:
        assert self.s is not None
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        frame: dict[str, Any] = json.loads(line, parse_constant=_not_json)  # strict JSON only
        return frame

    def exchange(self, frame: bytes) -> dict[str, Any] | None:
        if self.s is None:
            self.connect()
        assert self.s is not None
        try:
            self.s.sendall(frame + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # an oversized frame: the daemon answered and closed before reading it all
        while True:
            try:
                answer = self.read()
            except ConnectionResetError:
                answer = None
            if answer is None or answer.get("method") != NOTIFY_EVENT:
                return answer

    def send(self, frame: bytes) -> None:
        answer = self.exchange(frame)
        assert answer is not None, f"no answer to {frame[:200]!r}"
        self.answers += 1
        err = answer.get("error")
        if len(frame) + 1 > MAX_FRAME:
            assert err and err["code"] == ErrorCode.FRAME_TOO_LARGE, answer
            assert self.read() is None, "the connection stays open after an oversized frame"
            self.s = None
            return
        assert "result" in answer or err, answer
        assert not err or err["code"] != ErrorCode.INTERNAL, (frame[:300], err)


@pytest.fixture
def wire(daemon: Any) -> Any:
    from gastown.client import Client

    with Client(autostart=False) as c:
        c.call(Method.TOWN_CREATE, name="fx", _town=False)
        for title in ("one", "two"):
            c.call(Method.BEAD_CREATE, town="fx", title=title)
    w = Wire()
    yield w
    log = paths.log_path().read_text()
    assert "Traceback" not in log, log[-4000:]


def test_fuzzed_frames_always_get_a_non_internal_answer(wire: Wire) -> None:
    @settings(max_examples=FRAMES // BATCH, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(FRAME, min_size=BATCH, max_size=BATCH))
    def run(frames: list[bytes]) -> None:
        for frame in frames:
            if frame.strip():
                wire.send(frame)

    run()
    wire.send(b"x" * (MAX_FRAME + 10))  # oversized: FRAME_TOO_LARGE, then the daemon closes
    assert wire.answers >= FRAMES * 0.95
    answer = wire.exchange(json.dumps({"jsonrpc": "2.0", "id": 7, "method": Method.PING}).encode())
    assert answer == {"jsonrpc": "2.0", "id": 7, "result": "pong"}
