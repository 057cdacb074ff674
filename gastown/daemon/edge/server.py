"""The daemon: one asyncio process serving JSON-RPC on a Unix socket.

Single instance (flock on a lock file); the socket is 0600 in a 0700 directory and is
installed atomically (bound under a temporary name, chmod, renamed into place), so a
client never sees a half-made socket and a stale one is simply replaced. Every
connection must say `system.hello` first and come from our own uid.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gastown import paths
import apsw

from gastown.daemon import api  # noqa: F401  (registers the handlers)
from gastown.daemon.edge import limits
from gastown.daemon.edge.context import Ctx
from gastown.daemon.api.agent import ROLE_METHODS
from gastown.daemon.edge.hub import Hub
from gastown.daemon.alarm.loop import TownLoop
from gastown.daemon.alarm.turns import agent_socket
from gastown.daemon.edge.rpc import REGISTRY, check_params
from gastown.daemon.town.towns import Town, Towns
from gastown.daemon.runtime import agentuids
from gastown.protocol import (
    MAX_FRAME, ErrorCode, Method, RpcError, decode_request, encode, error_response, response,
)

log = logging.getLogger("gastown.daemon")


class Connection:
    """One client connection; writes are serialised because event pushes interleave."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.hello = False
        self.actor: str | None = None
        self.agent_town: str | None = None  # set on a town's agent socket
        self.agent: str | None = None  # the agent the token named
        self.role: str | None = None
        self.token_hash: str | None = None  # checked again on every request: revoked when the turn ends
        self.write_lock = asyncio.Lock()
        self.closed = False

    async def send(self, frame: dict[str, Any]) -> None:
        data = fit_frame(frame)
        async with self.write_lock:
            if self.closed:
                return
            self.writer.write(data)
            await self.writer.drain()


def fit_frame(frame: dict[str, Any]) -> bytes:
    """Encode a frame; a list result too big for one frame is cut to a prefix that fits
    (a page: callers continue with `offset + len(page)`), anything else too big becomes a
    FRAME_TOO_LARGE answer. Listings page by size themselves; this is the last net."""
    try:
        return encode(frame)
    except RpcError as exc:
        result = frame.get("result")
        if exc.code == ErrorCode.FRAME_TOO_LARGE and isinstance(result, list):
            n = len(result)
            while n > 1:
                n //= 2
                try:
                    data = encode({**frame, "result": result[:n]})
                except RpcError:
                    continue
                log.warning("a %d-item answer was cut to %d items to fit one frame", len(result), n)
                return data
        return encode(error_response(frame.get("id"), exc))


SHUTDOWN_GRACE_S = 20.0


def _force_exit() -> None:
    import faulthandler

    log.error("clean shutdown did not finish within %.0f s; thread stacks follow, then exit", SHUTDOWN_GRACE_S)
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None:
            handler.flush()
            faulthandler.dump_traceback(file=stream, all_threads=True)
            stream.flush()
    os._exit(3)


def peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class Daemon:
    def __init__(self, socket_path: Path | None = None) -> None:
        self.socket_path = socket_path or paths.socket_path()
        self.towns = Towns()
        self.hub = Hub()
        self.connections: set[Connection] = set()
        self.loops: dict[str, TownLoop] = {}
        self.agent_servers: dict[str, asyncio.AbstractServer] = {}
        self.started = time.monotonic()
        self.max_connections = limits.connection_cap(limits.raise_fd_limit())
        self._stop = asyncio.Event()
        self._socket_ino: int | None = None

    def request_stop(self) -> None:
        """Begin a clean shutdown. A watchdog bounds it: if the daemon is still here 20 s
        later, every thread's stack goes to the log and the process exits. Nothing is lost
        by that: store transactions are atomic and agent turns run detached."""
        if not self._stop.is_set():
            watchdog = threading.Timer(SHUTDOWN_GRACE_S, _force_exit)
            watchdog.daemon = True
            watchdog.start()
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.set_exception_handler(limits.AcceptErrorFilter())
        # worker threads mostly wait on git and on runners starting: 200 dispatches at once
        # must not queue behind the default 2-core pool (cpu + 4 threads)
        loop.set_default_executor(ThreadPoolExecutor(max_workers=limits.WORKER_THREADS, thread_name_prefix="work"))
        server = await self._listen()
        log.info("listening on %s (pid %d)", self.socket_path, os.getpid())
        for name in self.towns.names():
            try:
                await self.open_town(name)
            except Exception:
                log.exception("could not open town %s", name)
        try:
            await self._stop.wait()
        finally:
            log.info("shutting down")
            server.close()
            for name in list(self.loops):
                await self.close_town(name)
            for conn in list(self.connections):
                conn.closed = True
                conn.writer.close()
            await self.hub.close()
            self.towns.close_all()
            self._remove_socket()
            log.info("stopped")

    async def open_town(self, name: str) -> None:
        """Start a town's alarm loop and its agent socket (also re-adopts running turns)."""
        town = self.towns.get(name)
        if name in self.loops:
            return
        path = agent_socket(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        server = await asyncio.start_unix_server(
            lambda r, w: self._serve(r, w, agent_town=name), path=str(tmp), limit=MAX_FRAME)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        if agentuids.in_use(town.root):  # a container town whose agents have uids of their own
            agentuids.share_socket(path)
        self.agent_servers[name] = server
        town.on_write = self.hub.poke
        loop = TownLoop(town, self.hub)
        self.loops[name] = loop
        loop.start()

    async def close_town(self, name: str) -> None:
        loop = self.loops.pop(name, None)
        if loop is not None:
            await loop.stop()
        server = self.agent_servers.pop(name, None)
        if server is not None:
            server.close()
            agent_socket(name).unlink(missing_ok=True)

    def wake(self, town: Town) -> None:
        loop = self.loops.get(town.name)
        if loop is not None:
            loop.wake()

    async def _listen(self) -> asyncio.AbstractServer:
        tmp = self.socket_path.with_name(f".{self.socket_path.name}.{os.getpid()}")
        server = await asyncio.start_unix_server(self._serve, path=str(tmp), limit=MAX_FRAME)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.socket_path)
        self._socket_ino = self.socket_path.stat().st_ino
        return server

    def _remove_socket(self) -> None:
        try:
            if self.socket_path.stat().st_ino == self._socket_ino:
                self.socket_path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     agent_town: str | None = None) -> None:
        conn = Connection(reader, writer)
        conn.agent_town = agent_town
        uid = peer_uid(writer)
        if agent_town is None and uid is not None and uid != os.getuid():
            await conn.send(error_response(None, RpcError(ErrorCode.FORBIDDEN, f"uid {uid} may not use this daemon")))
            writer.close()
            return
        if len(self.connections) >= self.max_connections:
            err = RpcError(ErrorCode.UNAVAILABLE, f"the daemon has {len(self.connections)} connections open, "
                           f"its limit; try again shortly")
            try:
                await asyncio.wait_for(conn.send(error_response(None, err)), 1.0)
            except (OSError, asyncio.TimeoutError):
                pass
            writer.close()
            return
        self.connections.add(conn)
        try:
            await self._loop(conn)
        except (ConnectionError, asyncio.CancelledError, TimeoutError):
            pass
        finally:
            conn.closed = True
            self.connections.discard(conn)
            self.hub.drop(conn)
            writer.close()

    def _timeout(self, conn: Connection, first: bool) -> float | None:
        """How long to wait for the next frame: a new connection must speak soon, an idle
        one that is not subscribed to events is closed (clients reconnect)."""
        if first:
            return limits.HELLO_TIMEOUT
        if any(conn in subs for subs in self.hub.subs.values()):
            return None
        return limits.IDLE_TIMEOUT

    async def _loop(self, conn: Connection) -> None:
        first = True
        while not conn.closed:
            try:
                async with asyncio.timeout(self._timeout(conn, first)):
                    line = await conn.reader.readline()
            except ValueError:  # the frame exceeded MAX_FRAME; the stream cannot be resynchronised
                err = RpcError(ErrorCode.FRAME_TOO_LARGE, f"frame exceeds the {MAX_FRAME}-byte limit")
                await conn.send(error_response(None, err))
                return
            if not line:
                return
            if not line.strip():
                continue
            first = False
            await conn.send(await self.handle(conn, line))

    def _check_token(self, conn: Connection) -> None:
        """A token is revoked the moment its turn ends (or a new turn replaces it): every
        request of an agent connection re-reads the agent's row, not only the hello. On the
        town's read connection, on this thread (a primary-key read of committed data: no
        hop onto the writer thread, bench/bench_token_check.py)."""
        town = self.towns.get(conn.agent_town or "")
        live = bool(conn.agent and conn.token_hash and town.reader.token_live(conn.agent, conn.token_hash))
        if not live:
            conn.hello = False  # nothing more on this connection without a new, valid hello
            raise RpcError(ErrorCode.FORBIDDEN, "agent token revoked: its turn has ended")

    async def handle(self, conn: Connection, line: bytes) -> dict[str, Any]:
        req_id: Any = None
        try:
            req_id, name, params = decode_request(line)
            method = REGISTRY.get(name)
            if method is None:
                raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"unknown method '{name}'")
            if not conn.hello and name != Method.HELLO:
                raise RpcError(ErrorCode.INVALID_REQUEST, f"say {Method.HELLO} first")
            if conn.agent_town is not None and conn.hello:
                if name not in ROLE_METHODS.get(conn.role or "", ()):
                    raise RpcError(ErrorCode.FORBIDDEN, f"a {conn.role} may not call {name}")
                self._check_token(conn)
            request_id = params.pop("request_id", None)  # any call may carry one: retries are idempotent
            params = check_params(method, params)
            ctx = Ctx(daemon=self, conn=conn)
            if isinstance(request_id, str) and request_id:
                ctx.extra["request_id"] = request_id[:100]
            if method.town:
                town_name = conn.agent_town if conn.agent_town is not None else params.get("town")
                params.pop("town", None)
                town = self.towns.resolve(town_name)
                seq = town.store.last_seq
                result = await method.fn(ctx, town, **params)
                self.hub.poke(town)
                if town.store.last_seq != seq:  # anything written may make work ready: tick now
                    self.wake(town)
            else:
                result = await method.fn(ctx, **params)
            return response(req_id, result)
        except RpcError as exc:
            if req_id is None and isinstance(exc.data, dict):
                req_id = exc.data.get("id")
            return error_response(req_id, exc)
        except apsw.ConstraintError as exc:  # a value the schema refuses: bad input, not a bug
            return error_response(req_id, RpcError(ErrorCode.INVALID_PARAMS, f"refused by the store: {exc}"))
        except Exception as exc:  # a bug must not take the daemon down
            log.exception("internal error in %r", line[:200])
            return error_response(req_id, RpcError(ErrorCode.INTERNAL, f"internal error: {exc}"))


def acquire_lock() -> int:
    """Take the single-instance lock or raise RpcError naming the running daemon."""
    run = paths.runtime_dir()
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(run, 0o700)
    fd = os.open(paths.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            pid = paths.pid_path().read_text().strip()
        except OSError:
            pid = "?"
        raise RpcError(ErrorCode.ALREADY_EXISTS, f"a daemon is already running (pid {pid})") from None
    paths.pid_path().write_text(f"{os.getpid()}\n")
    return fd
