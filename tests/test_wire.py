"""The wire's edges against a real daemon: every frame gets a well-formed answer that is
never INTERNAL, ids resolve strictly, lists fit a frame, and silent or surplus
connections cannot lock other clients out."""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any, Iterator

import pytest

from gastown import paths
from gastown.client import Client
from gastown.daemon.store import MAX_BODY, MAX_FILTER
from gastown.protocol import MAX_DEPTH, MAX_FRAME, PROTOCOL_VERSION, ErrorCode, Method, RpcError
from tests.conftest import DaemonProc

pytestmark = pytest.mark.slow


def _strict(token: str) -> Any:
    raise AssertionError(f"{token} is not JSON")


class Raw:
    def __init__(self, hello: bool = True) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(str(paths.socket_path()))
        self.f = self.s.makefile("rb")
        if hello:
            assert "result" in self.frame(json.dumps(
                {"jsonrpc": "2.0", "id": 0, "method": Method.HELLO, "params": {"protocol": PROTOCOL_VERSION}}))

    def frame(self, text: str | bytes) -> dict[str, Any]:
        self.s.sendall((text.encode() if isinstance(text, str) else text) + b"\n")
        line = self.f.readline()
        assert line, "the daemon closed the connection without an answer"
        answer: dict[str, Any] = json.loads(line, parse_constant=_strict)
        return answer

    def closed(self) -> bool:
        return self.f.readline() == b""


def code(answer: dict[str, Any]) -> int | None:
    return answer["error"]["code"] if "error" in answer else None


@pytest.fixture
def fx(daemon: DaemonProc) -> Iterator[tuple[Client, str]]:
    with daemon.client(town="fx") as c:
        c.call(Method.TOWN_CREATE, name="fx", _town=False)
        only = c.call(Method.BEAD_CREATE, title="the only bead")["id"]
        yield c, only


def test_lone_surrogates_nan_deep_nesting_and_bad_ids_are_answered(fx: tuple[Client, str]) -> None:
    raw = Raw()
    assert code(raw.frame('{"jsonrpc":"2.0","id":1,"method":"\\ud800"}')) == ErrorCode.INVALID_REQUEST
    answer = raw.frame('{"jsonrpc":"2.0","id":"\\udc00","method":"system.ping"}')
    assert code(answer) == ErrorCode.INVALID_REQUEST and answer["id"] is None
    answer = raw.frame('{"jsonrpc":"2.0","id":5,"method":"bead.show","params":{"id":"a\\ud800"}}')
    assert code(answer) == ErrorCode.INVALID_PARAMS and answer["id"] == 5
    for token in ("NaN", "Infinity", "-Infinity", "1e400"):
        assert code(raw.frame('{"jsonrpc":"2.0","id":%s,"method":"system.ping"}' % token)) == ErrorCode.PARSE_ERROR
    assert code(raw.frame("[" * 5000 + "]" * 5000)) == ErrorCode.PARSE_ERROR
    deep = '{"jsonrpc":"2.0","id":2,"method":"bead.create","params":{"title":"t","metadata":%s}}' % (
        '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))
    assert code(raw.frame(deep)) == ErrorCode.PARSE_ERROR
    assert raw.frame('{"jsonrpc":"2.0","id":3,"method":"system.ping"}')["result"] == "pong"


def test_huge_ints_nul_titles_and_long_filters_are_invalid_params(fx: tuple[Client, str]) -> None:
    c, _ = fx
    bad: list[tuple[str, dict[str, Any]]] = [
        (Method.BEAD_LIST, {"limit": 2**63}), (Method.BEAD_LIST, {"offset": 2**64}),
        (Method.BEAD_LIST, {"text": "x" * 70_000}), (Method.BEAD_CREATE, {"title": "\x00"}),
        (Method.BEAD_CREATE, {"title": "ok", "priority": -(2**63) - 1}),
        (Method.BEAD_CREATE, {"title": "big", "body": "x" * (MAX_BODY + 1)}),
    ]
    for method, params in bad:
        with pytest.raises(RpcError) as err:
            c.call(method, **params)
        assert err.value.code == ErrorCode.INVALID_PARAMS, (method, err.value.message)
    assert c.call(Method.BEAD_LIST, text="x" * MAX_FILTER) == []


def test_ids_resolve_by_full_id_or_random_part_prefix_only(fx: tuple[Client, str]) -> None:
    c, only = fx
    for key in (" ", "", "fx", "FX-", "fx-", "-", "%", only + "x"):
        with pytest.raises(RpcError) as err:
            c.call(Method.BEAD_CLOSE, id=key)
        assert err.value.code == ErrorCode.NOT_FOUND, key
    assert c.call(Method.BEAD_SHOW, id=only)["status"] == "open"  # nothing was closed
    part = only.split("-", 1)[1]
    assert c.call(Method.BEAD_SHOW, id=part[:1])["id"] == only
    assert c.call(Method.BEAD_SHOW, id=f"FX-{part[:2].upper()}")["id"] == only


def test_lists_of_big_bodies_are_paged_to_fit_a_frame(fx: tuple[Client, str]) -> None:
    c, _ = fx
    made = {c.call(Method.BEAD_CREATE, title=f"big {i}", body="b" * MAX_BODY)["id"] for i in range(12)}
    assert 12 * MAX_BODY > MAX_FRAME
    seen: list[str] = []
    while True:
        page = c.call(Method.BEAD_LIST, type="issue", offset=len(seen), limit=200)
        if not page:
            break
        assert len(page) < 12
        seen += [b["id"] for b in page]
    assert made <= set(seen) and len(seen) == len(set(seen)) == 13


def test_silent_and_idle_connections_are_closed_and_clients_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GT_HELLO_TIMEOUT", "0.5")
    monkeypatch.setenv("GT_IDLE_TIMEOUT", "1")
    d = DaemonProc()
    try:
        assert Raw(hello=False).closed(), "a connection that never speaks is closed"
        assert Raw().closed(), "an idle connection that is not subscribed is closed"
        with d.client() as c:
            assert c.call(Method.PING, _town=False) == "pong"
            while not c._peer_closed():  # the daemon closes it while idle...
                select.select([c.sock], [], [], 5)
            assert c.call(Method.PING, _town=False) == "pong"  # ...and the next call reconnects
    finally:
        d.stop()
    assert "Traceback" not in paths.log_path().read_text()


def test_connections_past_the_cap_are_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GT_MAX_CONNECTIONS", "16")
    d = DaemonProc()
    try:
        crowd = [Raw() for _ in range(16)]
        refused = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        refused.settimeout(30)
        refused.connect(str(paths.socket_path()))
        answer = json.loads(refused.makefile("rb").readline())
        assert answer["error"]["code"] == ErrorCode.UNAVAILABLE and "limit" in answer["error"]["message"]
        crowd.pop().s.close()
        with wait_client(d) as c:
            assert c.call(Method.PING, _town=False) == "pong"
        for r in crowd:
            r.s.close()
    finally:
        d.stop()
    assert "Traceback" not in paths.log_path().read_text()


def wait_client(d: DaemonProc) -> Client:
    """A client once the daemon has noticed a freed slot (closing is asynchronous)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return d.client()
        except RpcError as exc:
            if exc.code != ErrorCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
