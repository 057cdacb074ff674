"""`gt daemon start|stop|status|logs`."""

from __future__ import annotations

import time
from collections import deque

import typer

from gastown import paths
from gastown.cli.common import JsonOpt, err, fail, out
from gastown.cli.render import emit_json
from gastown.client import Client, start_daemon
from gastown.protocol import ErrorCode, Method, RpcError

app = typer.Typer(help="Run and inspect the background daemon.", no_args_is_help=True)


def _status() -> dict[str, object] | None:
    try:
        with Client(autostart=False, timeout=5) as client:
            result: dict[str, object] = client.call(Method.STATUS, _town=False)
            return result
    except RpcError as exc:
        if exc.code == ErrorCode.UNAVAILABLE:
            return None
        raise


@app.command()
def start() -> None:
    """Start the daemon in the background (gt also starts it on demand)."""
    status = _status()
    if status:
        err.print(f"daemon already running (pid {status['pid']})")
        return
    try:
        start_daemon()
    except RpcError as exc:
        fail(exc.message, exc.code)
    status = _status()
    err.print(f"daemon started (pid {status['pid'] if status else '?'})")


@app.command()
def stop(timeout: float = typer.Option(10.0, help="Seconds to wait for it to exit.")) -> None:
    """Stop the daemon cleanly. Running agent turns are not affected."""
    try:
        with Client(autostart=False, timeout=5) as client:
            pid = client.call(Method.SHUTDOWN, _town=False)["pid"]
    except RpcError as exc:
        if exc.code == ErrorCode.UNAVAILABLE:
            err.print("daemon not running")
            return
        fail(exc.message, exc.code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not paths.pid_path().exists() and not paths.socket_path().exists():
            err.print(f"daemon stopped (pid {pid})")
            return
        time.sleep(0.05)
    fail(f"daemon (pid {pid}) did not stop within {timeout:.0f}s", ErrorCode.INTERNAL)


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Say whether the daemon runs, with its pid, version, uptime and socket."""
    info = _status()
    if info is None:
        if as_json:
            emit_json([{"id": "daemon", "status": "stopped"}])
        err.print("daemon not running")
        raise typer.Exit(7)
    if as_json:
        emit_json([info])
        return
    for key in ("status", "pid", "version", "protocol", "uptime_s", "socket", "towns_open", "connections",
                "rss_mb", "cpu_s", "threads", "open_fds"):
        out.print(f"{key:<12}{info.get(key, '')}", markup=False)


@app.command()
def logs(lines: int = typer.Option(50, "-n", "--lines", help="How many lines from the end."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines.")) -> None:
    """Print the daemon's log file."""
    path = paths.log_path()
    if not path.exists():
        fail(f"no log yet at {path}", ErrorCode.NOT_FOUND)
    with open(path, errors="replace") as fh:
        for line in deque(fh, maxlen=lines):
            print(line, end="")
        while follow:
            line = fh.readline()
            if line:
                print(line, end="", flush=True)
            else:
                time.sleep(0.2)


from gastown.cli import service  # noqa: E402  (install/uninstall live in their own module)

service.register(app)
