"""Turn runner tests: real processes and PTYs, no mocks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gastown import runner

PY = sys.executable


@pytest.fixture
def tdir() -> Iterator[Path]:
    """Short paths so the attach socket fits in sun_path."""
    d = Path(tempfile.mkdtemp(prefix="gt-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def wait_exited(turn: Path, timeout: float = 10.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = runner.read_status(turn)
        if st and st["state"] == "exited":
            return st
        time.sleep(0.02)
    raise AssertionError(f"turn did not exit: {runner.read_status(turn)}")


def wait_output(turn: Path, needle: bytes, timeout: float = 10.0) -> bytes:
    end = time.monotonic() + timeout
    out = b""
    while time.monotonic() < end:
        out = runner.tail(turn, 0)[0]
        if needle in out:
            return out
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} not in output {out!r}")


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def test_output_is_a_tty_and_exit_code_zero(tdir: Path) -> None:
    turn = tdir / "t"
    pid = runner.spawn_detached(turn, py(
        "import os,sys; print('tty', os.isatty(0), os.isatty(1)); print(os.get_terminal_size())"
        "; print(os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid())"), tdir)
    st = wait_exited(turn)
    assert st["runner_pid"] == pid and st["exit_code"] == 0 and st["signal"] is None
    assert st["pgid"] == st["child_pid"] and st["timed_out"] is False
    assert st["started_at"].endswith("Z") and st["ended_at"].endswith("Z")
    out = runner.tail(turn, 0)[0]
    assert b"tty True True" in out and b"columns=200, lines=50" in out and b"True True" in out
    assert not (turn / "attach.sock").exists() and not runner.is_running(turn)


def test_exit_code_and_tail_offsets(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, ["sh", "-c", "echo one; exit 3"], tdir)
    assert wait_exited(turn)["exit_code"] == 3
    data, off = runner.tail(turn, 0)
    assert data == b"one\r\n" and off == 5
    assert runner.tail(turn, off) == (b"", off)
    assert runner.tail(tdir / "nope", 7) == (b"", 7)


def test_cli_foreground_exit_code_and_exec_failure(tdir: Path) -> None:
    r = subprocess.run([PY, "-m", "gastown.runner", "--dir", str(tdir / "a"), "--",
                        "sh", "-c", "exit 4"], timeout=10)
    assert r.returncode == 4 and runner.read_status(tdir / "a")["exit_code"] == 4  # type: ignore[index]
    r = subprocess.run([PY, "-m", "gastown.runner", "--dir", str(tdir / "b"), "--",
                        "/no/such/program"], timeout=10)
    assert r.returncode == 127 and b"cannot run" in runner.tail(tdir / "b", 0)[0]


def test_killed_by_signal(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, ["sh", "-c", "echo bye; kill -9 $$"], tdir)
    st = wait_exited(turn)
    assert st["exit_code"] == 128 + 9 and st["signal"] == 9 and not st["stopped"]


def test_timeout_sigterm(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, ["sleep", "600"], tdir, timeout=0.5)  # only the timeout ends it
    st = wait_exited(turn)  # (bench_timeouts.py: how soon)
    assert st["timed_out"] is True and st["signal"] == signal.SIGTERM and st["exit_code"] == 143


def test_timeout_escalates_to_sigkill(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, ["sh", "-c", "trap '' TERM; echo ready; sleep 30"], tdir,
                          timeout=0.3, grace=0.5)
    st = wait_exited(turn)
    assert st["timed_out"] is True and st["signal"] == 9 and st["exit_code"] == 137


def test_env_overlay_and_unset(tdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GT_TEST_UNSET", "present")
    monkeypatch.setenv("GT_TEST_KEEP", "kept")
    turn = tdir / "t"
    runner.spawn_detached(turn, py(
        "import os; print([os.environ.get(k) for k in "
        "('GT_TEST_NEW', 'GT_TEST_UNSET', 'GT_TEST_KEEP')])"),
        tdir, env={"GT_TEST_NEW": "new", "GT_TEST_UNSET": None})
    wait_exited(turn)
    assert b"['new', None, 'kept']" in runner.tail(turn, 0)[0]
    assert (turn / "env.json").stat().st_mode & 0o777 == 0o600


def test_cwd(tdir: Path) -> None:
    work = tdir / "work dir"
    work.mkdir()
    turn = tdir / "t"
    runner.spawn_detached(turn, ["pwd"], work)
    st = wait_exited(turn)
    assert st["cwd"] == str(work.resolve())
    assert runner.tail(turn, 0)[0].strip().decode() == str(work.resolve())


def test_send_input_reaches_program(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, py("print('ask'); print('got', input().upper())"), tdir)
    wait_output(turn, b"ask")
    runner.send_input(turn, b"hello\n")
    assert wait_exited(turn)["exit_code"] == 0
    assert b"got HELLO" in runner.tail(turn, 0)[0]


def test_many_short_lived_input_clients(tdir: Path) -> None:
    """Clients that write and hang up while output flows must not upset the runner."""
    turn = tdir / "t"
    runner.spawn_detached(turn, ["cat"], tdir)
    for i in range(40):
        runner.send_input(turn, b"line-%d\n" % i)
    runner.send_input(turn, b"\x04")  # ^D: EOF for cat
    st = wait_exited(turn)
    lines = runner.tail(turn, 0)[0].split(b"\r\n")[:-1]
    expected = [b"line-%d" % i for i in range(40)]
    assert sorted(lines) == sorted(expected * 2)  # each line echoed by the PTY and by cat
    assert sorted(expected, key=lines.index) == expected  # delivered in order
    assert st["exit_code"] == 0 and "error" not in st  # cat closes stdio before exiting


def test_attach_client_sees_live_output_and_types(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, py(
        "import time\nprint('ready', flush=True)\nwhile input() != 'quit':\n"
        "    print('echo-reply', flush=True)"), tdir)
    wait_output(turn, b"ready")
    st = runner.read_status(turn)
    assert st is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(st["attach_socket"])
        s.settimeout(5)
        # no wait for the accept: the runner reads our input only from the connection it
        # accepted, so the reply to it is produced after the accept and streamed to us
        s.sendall(b"x\n")
        seen = b""
        while b"echo-reply" not in seen:
            seen += s.recv(4096)
        assert b"ready" not in seen  # only new output is streamed; history is in output.log
        s.sendall(b"quit\n")
        assert wait_exited(turn)["exit_code"] == 0


def test_long_turn_dir_uses_short_socket(tdir: Path) -> None:
    turn = tdir / ("d" * 60) / ("e" * 60)
    runner.spawn_detached(turn, py("print('got', input())"), tdir)
    st = runner.read_status(turn)
    assert st is not None and st["attach_socket"].startswith("/tmp/gt-att-")
    runner.send_input(turn, b"abc\n")
    wait_exited(turn)
    assert b"got abc" in runner.tail(turn, 0)[0]
    assert not os.path.exists(st["attach_socket"])
    assert not os.path.exists(os.path.dirname(st["attach_socket"]))


SPAWNER = """
import sys, time
from pathlib import Path
from gastown import runner
pid = runner.spawn_detached(Path(sys.argv[1]), ['sh', '-c', 'sleep 1; exit 5'], Path(sys.argv[2]))
print(pid, flush=True)
time.sleep(60)
"""


def test_runner_survives_spawner_sigkill(tdir: Path) -> None:
    turn = tdir / "t"
    proc = subprocess.Popen([PY, "-c", SPAWNER, str(turn), str(tdir)], stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None
    runner_pid = int(proc.stdout.readline())
    assert runner.is_running(turn)
    st = runner.read_status(turn)
    assert st is not None and os.getpgid(st["child_pid"]) != os.getpgid(proc.pid)
    proc.kill()
    proc.wait()
    st = wait_exited(turn)
    assert st["runner_pid"] == runner_pid and st["exit_code"] == 5


def test_stop_ends_long_sleep(tdir: Path) -> None:
    turn = tdir / "t"
    runner.spawn_detached(turn, ["sh", "-c", "sleep 600; echo not-reached"], tdir)
    assert runner.is_running(turn)
    runner.stop(turn)  # SIGTERM ends it within the grace (bench_timeouts.py: how soon stop returns)
    st = runner.read_status(turn)
    assert st is not None and st["state"] == "exited" and st["stopped"] is True
    assert st["exit_code"] == 143 and not runner.is_running(turn)
    runner.stop(turn)  # stopping a finished turn is a no-op


def test_sigterm_to_runner_is_forwarded(tdir: Path) -> None:
    turn = tdir / "t"
    pid = runner.spawn_detached(turn, ["sleep", "60"], tdir)
    os.kill(pid, signal.SIGTERM)
    st = wait_exited(turn, timeout=5)
    assert st["stopped"] is True and st["signal"] == signal.SIGTERM


def test_dead_or_reused_pid_is_not_running(tdir: Path) -> None:
    me = runner._proc_stat(os.getpid())
    assert me is not None
    base = {"state": "running", "runner_pid": os.getpid(), "runner_start": me[1],
            "boot_id": runner._boot_id()}
    (tdir / "status.json").write_text(json.dumps(base))
    assert runner.is_running(tdir)  # sanity: the live, matching process
    (tdir / "status.json").write_text(json.dumps({**base, "runner_start": me[1] - 1}))
    assert not runner.is_running(tdir)  # same pid, different process: a reused pid
    (tdir / "status.json").write_text(json.dumps({**base, "boot_id": "another-boot"}))
    assert not runner.is_running(tdir)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tdir / "status.json").write_text(json.dumps({**base, "runner_pid": dead.pid}))
    assert not runner.is_running(tdir)
    runner.stop(tdir, grace=0.1)  # must not signal anything (we are still here)
    assert runner.read_status(tdir / "missing") is None and not runner.is_running(tdir / "x")


def test_spawn_command_shape() -> None:
    cmd = runner.spawn_command(Path("/t"), ["a", "--b"], Path("/w"), Path("/e.json"), 9.0)
    assert cmd[:3] == ["python3", "-m", "gastown.runner"]
    assert cmd[cmd.index("--"):] == ["--", "a", "--b"]
    assert cmd[cmd.index("--env-json") + 1] == "/e.json" and "--detach" not in cmd
