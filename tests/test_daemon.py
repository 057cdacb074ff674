"""The daemon as a real process: bad input over a raw socket never takes it down."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gastown import paths
from gastown.client import Client
from gastown.protocol import MAX_FRAME, PROTOCOL_VERSION, ErrorCode, Method, RpcError

pytestmark = pytest.mark.slow


class Raw:
    """A bare socket speaking frames by hand."""

    def __init__(self) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(str(paths.socket_path()))
        self.f = self.s.makefile("rb")

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def recv(self) -> dict[str, Any]:
        line = self.f.readline()
        assert line, "connection closed"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
        return self.recv()

    def hello(self) -> None:
        assert "result" in self.call(Method.HELLO, protocol=PROTOCOL_VERSION)


def alive() -> None:
    with Client(autostart=False) as c:
        assert c.call(Method.PING, _town=False) == "pong"


def test_socket_permissions_and_pid(daemon) -> None:  # type: ignore[no-untyped-def]
    assert stat.S_IMODE(paths.socket_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.runtime_dir().stat().st_mode) == 0o700
    assert int(paths.pid_path().read_text()) == daemon.proc.pid


def test_status_reports_the_daemons_footprint(daemon) -> None:  # type: ignore[no-untyped-def]
    import psutil

    with daemon.client() as c:
        info = c.call(Method.STATUS, _town=False)
    assert info["pid"] == daemon.proc.pid and info["threads"] >= 1 and info["open_fds"] >= 3
    rss = psutil.Process(daemon.proc.pid).memory_info().rss / 2**20
    assert 0.5 * rss <= info["rss_mb"] <= 2 * rss  # the same process measured from outside


@pytest.mark.parametrize("frame, code", [
    (b"this is not json\n", ErrorCode.PARSE_ERROR),
    (b"[]\n", ErrorCode.INVALID_REQUEST),
    (b'{"jsonrpc":"2.0","id":3,"method":"bead.frobnicate","params":{}}\n', ErrorCode.METHOD_NOT_FOUND),
    (b'{"jsonrpc":"2.0","id":3,"method":"bead.show","params":{"id":5}}\n', ErrorCode.INVALID_PARAMS),
    (b'{"jsonrpc":"2.0","id":3,"method":"bead.show","params":{}}\n', ErrorCode.INVALID_PARAMS),
    (b'{"jsonrpc":"2.0","id":3,"method":"bead.show","params":{"id":"x","bogus":1}}\n', ErrorCode.INVALID_PARAMS),
    (b'{"jsonrpc":"2.0","id":3,"method":"bead.show","params":{"id":"x","town":"ghost"}}\n', ErrorCode.NOT_FOUND),
])
def test_bad_frames_get_errors_and_the_daemon_stays_up(daemon, frame: bytes, code: int) -> None:  # type: ignore[no-untyped-def]
    raw = Raw()
    raw.hello()
    raw.send(frame)
    reply = raw.recv()
    assert reply["error"]["code"] == code
    assert "\n" not in reply["error"]["message"]
    if code != ErrorCode.PARSE_ERROR and b'"id":3' in frame:
        assert reply["id"] == 3
    assert "result" in raw.call(Method.PING)  # the same connection still works
    alive()


def test_oversized_frame(daemon) -> None:  # type: ignore[no-untyped-def]
    raw = Raw()
    raw.hello()
    raw.send(b'{"jsonrpc":"2.0","id":1,"method":"system.ping","params":{"x":"' + b"a" * (MAX_FRAME + 10) + b'"}}\n')
    assert raw.recv()["error"]["code"] == ErrorCode.FRAME_TOO_LARGE
    alive()


def test_hello_is_required_and_versions_must_match(daemon) -> None:  # type: ignore[no-untyped-def]
    raw = Raw()
    assert raw.call(Method.PING)["error"]["code"] == ErrorCode.INVALID_REQUEST
    reply = raw.call(Method.HELLO, protocol=PROTOCOL_VERSION + 1)
    assert reply["error"]["code"] == ErrorCode.VERSION_MISMATCH and "restart the daemon" in reply["error"]["message"]
    alive()


def test_second_daemon_refused(daemon) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "gastown.daemon"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 4
    assert f"already running (pid {daemon.proc.pid})" in proc.stderr
    alive()


def test_stale_socket_is_replaced(gt_home: Path) -> None:
    run = paths.runtime_dir()
    run.mkdir(parents=True, mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(paths.socket_path()))
    stale.close()  # a socket file nobody listens on
    with Client() as c:  # autostarts a daemon, which replaces the stale socket
        assert c.call(Method.PING, _town=False) == "pong"
        c.call(Method.SHUTDOWN, _town=False)


def test_autostart_and_clean_sigterm(gt_home: Path) -> None:
    with Client() as c:
        pid = c.server["pid"]
        c.call(Method.TOWN_CREATE, name="t", _town=False)
    os.kill(pid, 15)
    for _ in range(200):
        if not paths.socket_path().exists() and not paths.pid_path().exists():
            break
        time.sleep(0.02)
    assert not paths.socket_path().exists() and not paths.pid_path().exists()
    with Client() as c:  # data survived the restart
        assert [t["name"] for t in c.call(Method.TOWN_LIST, _town=False)] == ["t"]
        c.call(Method.SHUTDOWN, _town=False)


def test_errors_lose_nothing(daemon) -> None:  # type: ignore[no-untyped-def]
    with daemon.client() as c:
        c.call(Method.TOWN_CREATE, name="t", _town=False)
        a = c.call(Method.BEAD_CREATE, title="a")["id"]
        b = c.call(Method.BEAD_CREATE, title="b", depends_on=[a])["id"]
        with pytest.raises(RpcError) as exc:
            c.call(Method.DEP_ADD, id=a, depends_on=b)
        assert exc.value.code == ErrorCode.CONFLICT
        with pytest.raises(RpcError):
            c.call(Method.TOWN_CREATE, name="t", _town=False)
        assert [d["id"] for d in c.call(Method.BEAD_SHOW, id=b)["depends_on"]] == [a]
        assert c.call(Method.BEAD_SHOW, id=a)["depends_on"] == []
        assert len(c.call(Method.BEAD_LIST)) == 2


def test_several_towns_need_a_choice(daemon) -> None:  # type: ignore[no-untyped-def]
    with daemon.client() as c:
        c.call(Method.TOWN_CREATE, name="one", _town=False)
        c.call(Method.TOWN_CREATE, name="two", _town=False)
        with pytest.raises(RpcError) as exc:
            c.call(Method.BEAD_LIST)
        assert "--town" in exc.value.message
        c.call(Method.BEAD_CREATE, title="x", town="two")
        assert len(c.call(Method.BEAD_LIST, town="two")) == 1
        assert c.call(Method.BEAD_LIST, town="one") == []


def test_subscribe_replays_since_and_streams_live(daemon) -> None:  # type: ignore[no-untyped-def]
    with daemon.client() as c:
        c.call(Method.TOWN_CREATE, name="t", _town=False)
        first = c.call(Method.BEAD_CREATE, title="before")["id"]
    got: list[dict[str, Any]] = []

    def listen() -> None:
        with daemon.client() as sub:
            for ev in sub.events(since=0):
                got.append(ev)
                if ev["event_type"] == "closed":
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    with daemon.client() as c:
        second = c.call(Method.BEAD_CREATE, title="after")["id"]
        c.call(Method.BEAD_CLOSE, id=second)
    t.join(10)
    assert not t.is_alive()
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [(e["bead_id"], e["event_type"]) for e in got] == [
        (first, "created"), (second, "created"), (second, "closed")]
    assert all(e["town"] == "t" for e in got)


def test_town_delete_removes_everything(daemon) -> None:  # type: ignore[no-untyped-def]
    with daemon.client() as c:
        info = c.call(Method.TOWN_CREATE, name="gone", _town=False)
        c.call(Method.BEAD_CREATE, title="x")
        c.call(Method.TOWN_DELETE, name="gone", _town=False)
        assert not Path(info["path"]).exists()
        with pytest.raises(RpcError) as exc:
            c.call(Method.TOWN_SHOW, town="gone")
        assert exc.value.code == ErrorCode.NOT_FOUND
