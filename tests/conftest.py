"""Test isolation: every test gets its own GT_HOME (short path, so sockets fit sun_path)
and its own git identity; `daemon` starts a real daemon process and stops it by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from gastown import paths
from gastown.client import Client

REPO = Path(__file__).resolve().parent.parent
GT = [sys.executable, "-m", "gastown.cli.entry"]


@pytest.fixture(autouse=True)
def gt_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="gt-"))
    monkeypatch.setenv("GT_HOME", str(home))
    monkeypatch.delenv("GT_TOWN", raising=False)
    monkeypatch.delenv("GT_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("GT_RUNTIME", "local")  # container tests ask for podman explicitly
    monkeypatch.setenv("GT_DEFAULT_AGENT", "scripted")  # new towns use the stand-in only because we ask
    monkeypatch.setenv("GT_DEFAULT_GATE", "none")  # new rigs get no detected gate: tests set the gates they test
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Human\n\temail = human@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    yield home
    _stop_daemon_of(home)
    shutil.rmtree(home, ignore_errors=True)


def _runner_pids(home: Path) -> dict[int, str]:
    """Turn runners whose turn dir lies under this test's own GT_HOME: pid -> turn dir.

    Only the test's own home: other towns on this machine (a user's, another test run's)
    are not ours to stop."""
    import psutil

    root = str(home.resolve()) + os.sep
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "gastown.runner" in cmd and "--dir" in cmd:
            turn_dir = cmd[cmd.index("--dir") + 1] if cmd.index("--dir") + 1 < len(cmd) else ""
            if turn_dir and (os.path.realpath(turn_dir) + os.sep).startswith(root):
                found[proc.info["pid"]] = turn_dir
    return found


@pytest.fixture(autouse=True)
def no_leaked_turns(gt_home: Path) -> Iterator[None]:
    """A turn outlives its daemon by design, so a test that ends mid-turn would leave an
    agent running for the rest of the session: stop the runners this test started
    (those under its own GT_HOME, which no other test shares)."""
    yield
    from gastown import runner

    for _pid, turn_dir in _runner_pids(gt_home).items():
        try:
            runner.stop(Path(turn_dir), grace=2.0)
        except Exception:  # noqa: BLE001 - best effort: the turn may have just ended
            pass


def _stop_daemon_of(home: Path) -> None:
    """Stop a daemon a test left running under this GT_HOME (pid from its own pid file)."""
    pid_file = paths.pid_path()
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
    except (ValueError, ProcessLookupError, FileNotFoundError):
        pass


class DaemonProc:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "gastown.daemon"], start_new_session=True)
        deadline = time.monotonic() + 15
        while not paths.socket_path().exists():
            assert self.proc.poll() is None, "daemon exited during start"
            assert time.monotonic() < deadline, "daemon did not start"
            time.sleep(0.02)

    def client(self, **kw: object) -> Client:
        return Client(autostart=False, **kw)  # type: ignore[arg-type]

    def stop(self) -> int:
        """SIGTERM, then (a loaded CI machine can be slow) up to 60 s before a SIGKILL that
        fails the test: a daemon that does not stop is a bug, not noise."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon pid {self.proc.pid} did not stop within 60 s of SIGTERM") from None
        if code == 3:
            # The shutdown watchdog fired: the daemon still exited (bounded), but a clean
            # shutdown hung somewhere. Known, intermittent, not yet reproduced in isolation:
            # surface the thread stacks it logged so the next run can find the cause.
            import warnings

            log = paths.log_path().read_text() if paths.log_path().exists() else ""
            warnings.warn(f"daemon clean shutdown hung (watchdog exit); log tail:\n{log[-6000:]}", stacklevel=1)
        return code


@pytest.fixture
def daemon(gt_home: Path) -> Iterator[DaemonProc]:
    d = DaemonProc()
    yield d
    d.stop()


def run_gt(*args: str, input: str | None = None, env: dict[str, str] | None = None,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `gt` as a process."""
    proc = subprocess.run([*GT, *args], capture_output=True, text=True, input=input, timeout=120,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"gt {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A real git repository with one commit on main."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for name, text in (files or {"README.md": "# sample\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "initial"], check=True)
    return path


ARITH = {"arith.py": "def add(a, b):\n    return a + b\n",
         "test_arith.py": "import arith\n\n\ndef test_add():\n    assert arith.add(2, 3) == 5\n"}


@pytest.fixture
def town(gt_home: Path) -> Iterator[Path]:
    """A town `t` (GT_TOWN) with the rig `app` cloned from a fresh repository (yielded);
    its daemon is stopped afterwards. Test files extend it with their own settings."""
    run_gt("town", "create", "t", check=True)
    repo = make_repo(gt_home / "src" / "app", ARITH)
    run_gt("rig", "add", "app", str(repo), check=True)
    os.environ["GT_TOWN"] = "t"
    yield repo
    os.environ.pop("GT_TOWN", None)
    run_gt("daemon", "stop")
