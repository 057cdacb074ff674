"""The dashboard's only handle on the daemon (plain Python, no textual).

Widgets never hold a socket: screens ask the app, the app's thread workers call `Remote`.
The sync `Client` is one socket and not thread-safe, so calls are serialised by a lock;
after the daemon went away the next call reconnects through `connect`. The event stream
gets its own connection (it blocks in `recv` for as long as the dashboard runs).
"""

from __future__ import annotations

import _socket
import threading
from typing import Any, Callable, Iterator, Protocol

from gastown.protocol import ErrorCode, RpcError


class ClientLike(Protocol):
    def call(self, method: str, **params: Any) -> Any: ...

    def events(self, since: int | None = None) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


Connect = Callable[[float | None], ClientLike]
"""Opens a new connection; the argument is the socket timeout (None: block forever)."""

CALL_TIMEOUT = 30.0


def is_disconnect(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or (isinstance(exc, RpcError) and exc.code == ErrorCode.UNAVAILABLE)


def interrupt(conn: Any) -> None:
    """Wake a thread blocked in `recv` on this connection (close alone does not), then close it."""
    sock = getattr(conn, "sock", None)
    if isinstance(sock, _socket.socket):  # the client's is a bare `_socket.socket`, the base of `socket.socket`
        try:
            sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        conn.close()
    except Exception:
        pass


class Remote:
    def __init__(self, client: ClientLike, connect: Connect | None = None) -> None:
        self._client: ClientLike | None = client
        self._connect = connect
        self._lock = threading.Lock()
        self._streams: list[ClientLike] = []
        self.closed = False

    def call(self, method: str, **params: Any) -> Any:
        with self._lock:
            if self.closed:
                raise RpcError(ErrorCode.UNAVAILABLE, "the dashboard is closing")
            if self._client is None:
                if self._connect is None:
                    raise RpcError(ErrorCode.UNAVAILABLE, "not connected to the daemon")
                self._client = self._connect(CALL_TIMEOUT)
            try:
                return self._client.call(method, **params)
            except Exception as exc:
                if is_disconnect(exc) and self._connect is not None:
                    interrupt(self._client)
                    self._client = None
                raise

    def open_stream(self) -> ClientLike:
        """A connection for `events()`: a new one when we can connect, else the client itself
        (test fakes, whose `call` and `events` may run on different threads)."""
        if self.closed:
            raise RpcError(ErrorCode.UNAVAILABLE, "the dashboard is closing")
        conn = self._connect(None) if self._connect is not None else self._client
        if conn is None:
            raise RpcError(ErrorCode.UNAVAILABLE, "not connected to the daemon")
        self._streams.append(conn)
        return conn

    def close_stream(self, conn: ClientLike) -> None:
        if conn in self._streams:
            self._streams.remove(conn)
        if conn is not self._client:
            interrupt(conn)

    def close(self) -> None:
        """Unblock every thread waiting on the daemon; the app can then exit at once."""
        self.closed = True
        for conn in list(self._streams):
            interrupt(conn)
        self._streams.clear()
        if self._client is not None:
            interrupt(self._client)
