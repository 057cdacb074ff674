"""Turn runner: run one agent turn in a PTY, detached from the daemon.

Why a separate program: the daemon must be restartable without losing running turns, so the
agent CLI must never be the daemon's child or share its process group.  The runner owns the
PTY, appends raw output to ``TURN_DIR/output.log``, records the exit in ``TURN_DIR/status.json``
and serves live output/input on a Unix socket for ``gt agent attach``.  A restarted daemon
re-adopts turns by reading the status file.

It is STDLIB ONLY and imports nothing else from gastown: it also runs inside town containers
where only ``python3`` exists (started with ``podman exec -d``, see :func:`spawn_command`).

CLI: ``python3 -m gastown.runner --dir TURN_DIR [--cwd DIR] [--env-json FILE] [--cols C]
[--rows R] [--timeout S] [--grace S] [--detach] -- CMD ARG...``
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATUS, OUTPUT, SOCKET, RUNNER_LOG, ENV_FILE = (
    "status.json", "output.log", "attach.sock", "runner.log", "env.json")
SUN_PATH_MAX = 107  # bytes usable in sockaddr_un.sun_path (108 with the NUL)
CHUNK = 65536
CLIENT_BUF_MAX = 4 << 20  # a client that stops reading this much output is dropped
DRAIN_MAX, DRAIN_QUIET = 2.0, 0.2  # after the child exits: read leftover PTY output


# ----------------------------------------------------------------------------- shared helpers
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _boot_id() -> str | None:
    """Pids repeat across reboots; the boot id tells a reader the recorded pid is from this boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None if no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # comm may contain spaces and parentheses
    return fields[0], int(fields[19])


def _start_time(pid: int) -> int | None:
    return (_proc_stat(pid) or ("", None))[1]


def _alive(pid: Any, start: Any, boot: Any) -> bool:
    """True only if `pid` is alive AND is the same process that was recorded (not a reused pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if boot is not None and _boot_id() not in (None, boot):
        return False
    stat = _proc_stat(pid)  # Linux only, like the rest of gastown's process handling
    return stat is not None and stat[0] not in "ZX" and start in (None, stat[1])


def _write_status(turn_dir: Path, status: dict[str, Any]) -> None:
    """Atomic (tmp + rename) so a reader never sees a half-written file."""
    tmp = turn_dir / f".{STATUS}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(status, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, turn_dir / STATUS)


# ----------------------------------------------------------------------------- daemon-side API
def read_status(turn_dir: Path) -> dict[str, Any] | None:
    """The turn's status.json, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(turn_dir) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_running(turn_dir: Path) -> bool:
    """Status says running and the recorded runner process is still that very process."""
    st = read_status(turn_dir)
    return bool(st and st.get("state") == "running"
                and _alive(st.get("runner_pid"), st.get("runner_start"), st.get("boot_id")))


def _child_alive(st: dict[str, Any]) -> bool:
    return _alive(st.get("child_pid"), st.get("child_start"), st.get("boot_id"))


def _killpg(pgid: Any, sig: int) -> None:
    if isinstance(pgid, int) and pgid > 1:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)


def stop(turn_dir: Path, grace: float = 5.0) -> None:
    """SIGTERM the turn (runner + child group), SIGKILL the group after `grace` seconds.

    Only recorded pids are signalled, and only after checking they are still the recorded
    processes.  The runner normally records the exit itself; this waits for that (bounded).
    """
    st = read_status(turn_dir)
    if not st or st.get("state") != "running":
        return
    pid, pgid = int(st.get("runner_pid") or 0), st.get("pgid")

    def runner_alive() -> bool:
        return _alive(pid, st.get("runner_start"), st.get("boot_id"))

    def wait(seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not is_running(turn_dir) and not _child_alive(st):
                return True
            time.sleep(0.02)
        return False

    if runner_alive():
        os.kill(pid, signal.SIGTERM)  # the runner forwards it and records the exit
    elif _child_alive(st):  # runner gone (e.g. SIGKILLed): signal the group ourselves
        _killpg(pgid, signal.SIGTERM)
    if wait(grace):
        return
    if runner_alive() or _child_alive(st):
        _killpg(pgid, signal.SIGKILL)
    if not wait(2.0) and runner_alive():
        os.kill(pid, signal.SIGKILL)


def send_input(turn_dir: Path, data: bytes) -> None:
    """Type `data` into the turn's PTY through its attach socket (OSError if not running)."""
    st = read_status(turn_dir) or {}
    path = st.get("attach_socket") or str(Path(turn_dir) / SOCKET)
    end = time.monotonic() + 5.0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5.0)
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:  # listen backlog full: the runner is busy, retry
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(CHUNK):  # the runner hangs up once it has queued all our bytes: this
            pass              # keeps successive calls in order (output we get is discarded)


def tail(turn_dir: Path, offset: int, limit: int = 1 << 20) -> tuple[bytes, int]:
    """Output bytes from `offset` (at most `limit`) and the offset to continue from."""
    try:
        with open(Path(turn_dir) / OUTPUT, "rb") as f:
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


def spawn_command(turn_dir: Path, argv: list[str], cwd: Path, env_json_path: Path | None,
                  timeout: float | None, *, python: str = "python3", grace: float = 5.0,
                  detach: bool = False, env_prefix: str | None = None) -> list[str]:
    """The runner's argv, for runtimes that start it themselves (``podman exec -d``).

    `env_prefix`: the turn's variables arrive in the runner's environment as PREFIX+NAME
    (so they never collide with the engine's own HOME, XDG_* ...); the runner renames them."""
    cmd = [python, "-m", "gastown.runner", "--dir", str(turn_dir), "--cwd", str(cwd),
           "--grace", str(grace)]
    if env_prefix:
        cmd += ["--env-prefix", env_prefix]
    if env_json_path is not None:
        cmd += ["--env-json", str(env_json_path)]
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    if detach:
        cmd.append("--detach")
    return [*cmd, "--", *argv]


def spawn_detached(turn_dir: Path, argv: list[str], cwd: Path,
                   env: dict[str, str | None] | None = None, timeout: float | None = None,
                   python: str = sys.executable, *, grace: float = 5.0,
                   startup_wait: float = 5.0, environ: dict[str, str] | None = None) -> int:
    """Start a turn on the host, fully detached; return the runner pid once status.json exists.

    Zombies: the runner double-forks (``--detach``).  We start an intermediate process in a new
    session and wait for it (it exits right after forking), so the daemon never holds an
    unreaped child; the runner itself is re-parented to init (or a subreaper) and survives the
    daemon being SIGKILLed.  Its own diagnostics go to TURN_DIR/runner.log.

    `environ`: the runner's (and so the agent's) COMPLETE environment, handed over at exec and
    never written to disk (it holds the agent token); `env` is the older overlay file.
    """
    turn_dir = Path(turn_dir).resolve()
    turn_dir.mkdir(parents=True, exist_ok=True)
    if is_running(turn_dir):
        raise RuntimeError(f"a turn is already running in {turn_dir}")
    (turn_dir / STATUS).unlink(missing_ok=True)
    env_path = None
    if env is not None:
        env_path = turn_dir / ENV_FILE  # may hold API keys: owner-only
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(env, f)
    cmd = spawn_command(turn_dir, argv, Path(cwd).resolve(), env_path, timeout,
                        python=python, grace=grace, detach=True)
    pkg_root = Path(__file__).resolve().parent.parent  # so `-m gastown.runner` always resolves
    with open(os.devnull, "rb") as null, open(turn_dir / RUNNER_LOG, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=null, stdout=log, stderr=log, close_fds=True,
                                start_new_session=True, cwd=pkg_root, env=environ)
    try:
        rc = proc.wait(timeout=startup_wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"turn runner did not detach; see {turn_dir / RUNNER_LOG}") from None
    if rc != 0:
        raise RuntimeError(f"turn runner failed (exit {rc}); see {turn_dir / RUNNER_LOG}")
    end = time.monotonic() + startup_wait
    while time.monotonic() < end:
        st = read_status(turn_dir)
        if st and isinstance(st.get("runner_pid"), int):
            return int(st["runner_pid"])
        time.sleep(0.01)
    raise TimeoutError(f"turn runner wrote no status; see {turn_dir / RUNNER_LOG}")


# ----------------------------------------------------------------------------- the runner
class _Client:
    """One attach connection: its socket and the output not yet sent to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.out, self.deaf = sock, bytearray(), False


class _Runner:
    """Single-threaded select loop over: PTY master, attach listener/clients, signal pipe."""

    def __init__(self, a: argparse.Namespace, cmd: list[str]) -> None:
        self.dir = Path(a.dir).resolve()
        self.cmd, self.cwd = cmd, str(Path(a.cwd or os.getcwd()).resolve())
        self.timeout, self.grace = a.timeout, a.grace
        self.winsize = struct.pack("HHHH", a.rows, a.cols, 0, 0)
        self.env = self._build_env(a.env_json, a.env_prefix)
        self.sel = selectors.DefaultSelector()
        self.clients: dict[socket.socket, _Client] = {}
        self.pending_in = bytearray()
        self.master, self.child, self.eof = -1, 0, False
        self.wait_status: int | None = None
        self.stop_requested = False
        self.reason: str | None = None  # "timed_out" / "stopped" once we started killing
        self.kill_at: float | None = None
        self.sock_path: str | None = None
        self.sock_tmpdir: str | None = None
        self.status: dict[str, Any] = {}
        self.log = -1

    @staticmethod
    def _build_env(path: str | None, prefix: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        if prefix:  # variables handed over as PREFIX+NAME (see spawn_command): strip the prefix
            for k in [k for k in env if k.startswith(prefix)]:
                env[k[len(prefix):]] = env.pop(k)
        if path:
            overlay = json.loads(Path(path).read_text())
            for k, v in (overlay or {}).items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[str(k)] = str(v)
        env.setdefault("TERM", "xterm-256color")  # agent CLIs need one to draw in a PTY
        return env

    def _listen(self) -> socket.socket | None:
        """attach.sock in the turn dir, or a private /tmp dir when the path is too long."""
        path = str(self.dir / SOCKET)
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            self.sock_tmpdir = tempfile.mkdtemp(prefix="gt-att-", dir="/tmp")  # mode 0700
            path = os.path.join(self.sock_tmpdir, "a.sock")
            if len(os.fsencode(path)) > SUN_PATH_MAX:
                return None
        Path(path).unlink(missing_ok=True)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        os.chmod(path, 0o600)
        lsock.listen(64)
        lsock.setblocking(False)
        self.sock_path = path
        return lsock

    def _exec_child(self) -> None:
        """In the forked child (session leader, PTY as controlling tty): exec the agent."""
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT,
                        signal.SIGHUP, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)  # do not leak Python's/our dispositions
            fcntl.ioctl(1, termios.TIOCSWINSZ, self.winsize)
            os.chdir(self.cwd)
            os.execvpe(self.cmd[0], self.cmd, self.env)
        except BaseException as e:  # noqa: BLE001 - report anything, then die with 127
            os.write(2, f"gastown.runner: cannot run {self.cmd[0]!r}: {e}\r\n".encode())
        finally:
            os._exit(127)

    def run(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = os.open(self.dir / OUTPUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        listener = self._listen()
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda s, f: None)  # handler needed to hit the wakeup fd
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_stop)
        self.child, self.master = os.forkpty()
        if self.child == 0:
            self._exec_child()
        os.set_blocking(self.master, False)
        self.sel.register(self.master, selectors.EVENT_READ, "master")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        if listener is not None:
            self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.status = {
            "runner_pid": os.getpid(), "runner_start": _start_time(os.getpid()),
            "child_pid": self.child, "child_start": _start_time(self.child), "pgid": self.child,
            "boot_id": _boot_id(), "state": "running", "exit_code": None,
            "started_at": _now_iso(), "ended_at": None, "argv": self.cmd, "cwd": self.cwd,
            "attach_socket": self.sock_path, "timeout": self.timeout,
            "host": os.uname().nodename}  # where it ran: the host's name, or the town container's
        _write_status(self.dir, self.status)
        error = None
        try:
            self._loop(listener, wake_r)
        except Exception as e:  # never leave the agent running unrecorded
            error = f"{type(e).__name__}: {e}"
            print(f"gastown.runner: {error}", file=sys.stderr)
        finally:
            self._cleanup(listener, (wake_r, wake_w))
        return self._finish(error)

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop_requested = True

    def _reap(self) -> None:
        """Child gone? Kill what's left of its group *before* reaping (pgid still reserved)."""
        if self.wait_status is not None:
            return
        if os.waitid(os.P_PID, self.child, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            return
        _killpg(self.child, signal.SIGKILL)  # a turn leaves no stragglers behind
        _, self.wait_status = os.waitpid(self.child, 0)

    def _terminate(self, reason: str) -> None:
        self.reason = reason
        _killpg(self.child, signal.SIGTERM)
        self.kill_at = time.monotonic() + self.grace

    def _loop(self, listener: socket.socket | None, wake_r: int) -> None:
        start = time.monotonic()
        deadline = start + self.timeout if self.timeout else None
        exited_at = last_out = 0.0
        while True:
            self._reap()
            now = time.monotonic()
            waits = [1.0]
            if self.wait_status is None:
                if self.stop_requested and self.reason is None:
                    self._terminate("stopped")
                if deadline is not None and now >= deadline and self.reason is None:
                    self._terminate("timed_out")
                if self.kill_at is not None and now >= self.kill_at:
                    _killpg(self.child, signal.SIGKILL)
                    self.kill_at = None
                if deadline is not None and self.reason is None:
                    waits.append(deadline - now)
                if self.kill_at is not None:
                    waits.append(self.kill_at - now)
            else:
                exited_at = exited_at or now
                quiet_since = max(exited_at, last_out)
                if (self.eof or now - exited_at >= DRAIN_MAX
                        or now - quiet_since >= DRAIN_QUIET):
                    return
                waits.append(quiet_since + DRAIN_QUIET - now)
            for key, mask in self.sel.select(max(0.0, min(waits))):
                if key.data == "master":
                    if mask & selectors.EVENT_READ and self._read_master():
                        last_out = time.monotonic()
                    if not self.eof and mask & selectors.EVENT_WRITE:
                        self._flush_input()
                elif key.data == "wake":  # a signal arrived; the flags are checked above
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_r, 512):
                            pass
                elif key.data == "listen" and listener is not None:
                    self._accept(listener)
                elif isinstance(key.data, _Client) and key.data.sock in self.clients:
                    self._service(key.data, mask)  # (skip one dropped earlier in this batch)

    def _read_master(self) -> bool:
        try:
            data = os.read(self.master, CHUNK)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: every slave fd is closed
                raise
            data = b""
        if not data:
            # Keep the fd open until the child is reaped: closing the master hangs up the tty
            # and SIGHUPs a child that closed its stdio but has not exited yet (cat does).
            self.sel.unregister(self.master)
            self.eof = True
            self.pending_in.clear()
            return False
        view = memoryview(data)
        while view:
            view = view[os.write(self.log, view):]
        for c in [c for c in self.clients.values() if not c.deaf]:
            c.out += data
            self._service(c, selectors.EVENT_WRITE)
        return True

    def _flush_input(self) -> None:
        if self.pending_in:
            with contextlib.suppress(BlockingIOError):
                del self.pending_in[:os.write(self.master, self.pending_in)]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.pending_in else 0)
        self.sel.modify(self.master, events, "master")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.clients[conn] = c = _Client(conn)
            self.sel.register(conn, selectors.EVENT_READ, c)

    def _service(self, c: _Client, mask: int) -> None:
        """Client bytes go to the PTY, queued output to the client; drop it at EOF.

        A client that stopped reading (EPIPE: e.g. send_input hung up) stops getting output but
        is read until EOF, so the input it already sent is never lost.
        """
        try:
            if mask & selectors.EVENT_READ:
                data = c.sock.recv(CHUNK)
                if not data:
                    return self._drop(c)
                if not self.eof:
                    self.pending_in += data
                    self._flush_input()
        except BlockingIOError:
            pass
        except OSError:
            return self._drop(c)
        try:
            if c.out:
                del c.out[:c.sock.send(c.out)]
        except BlockingIOError:
            pass
        except OSError:
            c.out, c.deaf = bytearray(), True
        if len(c.out) > CLIENT_BUF_MAX:
            return self._drop(c)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
        self.sel.modify(c.sock, events, c)

    def _drop(self, c: _Client) -> None:
        if self.clients.pop(c.sock, None) is not None:
            self.sel.unregister(c.sock)
            c.sock.close()

    def _cleanup(self, listener: socket.socket | None, pipe: tuple[int, int]) -> None:
        if self.wait_status is None:  # loop died early: never leave the agent behind
            _killpg(self.child, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, self.wait_status = os.waitpid(self.child, 0)
        for c in list(self.clients.values()):
            self._drop(c)
        if self.master >= 0:
            os.close(self.master)
        if listener is not None:
            listener.close()
        if self.sock_path:
            Path(self.sock_path).unlink(missing_ok=True)
        if self.sock_tmpdir:
            os.rmdir(self.sock_tmpdir)
        signal.set_wakeup_fd(-1)
        for fd in (*pipe, self.log):
            os.close(fd)

    def _finish(self, error: str | None) -> int:
        ws = self.wait_status
        sig = os.WTERMSIG(ws) if ws is not None and os.WIFSIGNALED(ws) else None
        code = None if ws is None else 128 + sig if sig else os.waitstatus_to_exitcode(ws)
        self.status.update(state="exited", exit_code=code, signal=sig, ended_at=_now_iso(),
                           timed_out=self.reason == "timed_out",
                           stopped=self.reason == "stopped" or self.stop_requested)
        if error:
            self.status["error"] = error
        _write_status(self.dir, self.status)
        return 1 if code is None else code


def main(argv: list[str] | None = None) -> int:
    """Parse ``OPTIONS -- CMD ARG...``; with --detach, double-fork first (see spawn_detached)."""
    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    p = argparse.ArgumentParser(prog="python3 -m gastown.runner", description=__doc__)
    p.add_argument("--dir", required=True)
    p.add_argument("--cwd")
    p.add_argument("--env-json")
    p.add_argument("--env-prefix")
    p.add_argument("--cols", type=int, default=200)
    p.add_argument("--rows", type=int, default=50)
    p.add_argument("--timeout", type=float)
    p.add_argument("--grace", type=float, default=5.0)
    p.add_argument("--detach", action="store_true")
    a = p.parse_args(args[:split])
    cmd = args[split + 1:]
    if not cmd:
        p.error("missing command after --")
    runner = _Runner(a, cmd)  # parse the env file before detaching, so errors are reported
    if a.detach:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()  # never a group leader after fork, so this always succeeds
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
