"""The gateway's client for one replica: pooled keep-alive HTTP/1.1 connections, made for forwarding.

One `Pool` per endpoint (`http://host:port` or `unix:/path/server.sock`, serving/endpoints.py)
keeps up to `max_connections` connections. A request takes the most recently used idle
connection, else opens one, else waits in line for one to come back. It is written as one
buffer with its Content-Length; the answer is parsed by httptools (Content-Length or chunked).
The answer's status, body, Content-Type (application/json when the replica gave none) and
X-Request-Id are kept. A connection goes back to the pool after a complete answer, and is
closed instead when the replica said `Connection: close`, when anything failed, or when the
pool has been closed. How many requests may wait for a connection is bounded by the gateway
(`--max-pending`, serving/gateway.py), not here.

Two failures, which the gateway treats differently: `ConnectionFailed` (no connection could
be made, or it broke before a whole answer came: another replica may answer) and `TimedOut`
(no answer in time: sending the request again would double the load of a slow replica).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

from serving.endpoints import Endpoint

CONNECT_TIMEOUT_S = 2.0
# An idle connection older than this is closed, not reused: it stays under the model server's
# 75 s keep-alive, so a reused connection has not just been closed by the replica.
MAX_IDLE_S = 60.0
MAX_CONNECTIONS = 256
JSON = (b"content-type", b"application/json")


class UpstreamError(Exception):
    """A request to a replica got no answer; the message says why."""


class ConnectionFailed(UpstreamError):
    """No connection to the replica, or it broke before the whole answer came."""


class TimedOut(UpstreamError):
    """The replica did not answer within the request's timeout."""


class Response(NamedTuple):
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]  # Content-Type first, then X-Request-Id if the replica sent one


class _Connection(asyncio.Protocol):
    """One connection to a replica, carrying one request at a time, and the parser of its answers."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[Response] | None = None
        self.body: list[bytes] = []
        self.content_type = JSON
        self.request_id: tuple[bytes, bytes] | None = None
        self.status = 0
        self.keep_alive = True
        self.lost = False
        self.idle_since = 0.0

    def request(self, data: bytes) -> asyncio.Future[Response]:
        if self.lost or self.transport is None:  # closed by the replica while being handed over
            raise ConnectionFailed(f"{self.pool.endpoint} closed the connection")
        self.answer = self.pool.loop.create_future()
        self.transport.write(data)
        return self.answer

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def expire(self, timeout: float) -> None:
        """The request's time is up: it fails, and the connection, its answer unread, is closed."""
        self._fail(TimedOut(f"{self.pool.endpoint} did not answer within {timeout:g} s"))
        self.close()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream: TCP, TLS or Unix socket

    def data_received(self, data: bytes) -> None:
        if self.answer is None:  # nothing was asked: the replica is closing or confused
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionFailed(f"malformed answer from {self.pool.endpoint}: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionFailed(f"{self.pool.endpoint} closed the connection before answering"))
        self.pool.forget(self)

    # --- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.content_type, self.request_id = JSON, None

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = (name, value)
        elif name == b"x-request-id":
            self.request_id = (name, value)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.answer is not None:
            self.body.append(body)

    def on_message_complete(self) -> None:
        answer, body = self.answer, self.body
        self.answer, self.body = None, []
        if answer is None:  # an answer to nothing asked: this connection can't be trusted
            self.close()
        elif not answer.done():
            headers = [self.content_type] if self.request_id is None else [self.content_type, self.request_id]
            answer.set_result(Response(self.status, b"".join(body), headers))

    def _fail(self, error: UpstreamError) -> None:
        answer, self.answer = self.answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class Pool:
    """The connections to one replica. `post` is the only thing callers need; `close` when the
    replica leaves the routes: idle connections close at once, busy ones when their answer is in."""

    def __init__(self, endpoint: Endpoint, max_connections: int = MAX_CONNECTIONS) -> None:
        self.endpoint = endpoint
        self.max_connections = max_connections
        self.loop = asyncio.get_running_loop()
        self.idle: list[_Connection] = []
        self.open = 0  # connections open or being opened, idle or not: never above max_connections
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self.closed = False
        url = urlsplit(endpoint.base_url)
        self.host_header = url.netloc.encode()
        self.address = (url.hostname or "", url.port or (443 if url.scheme == "https" else 80))
        self.tls = ssl.create_default_context() if url.scheme == "https" else None

    async def post(self, path: bytes, body: bytes, headers: list[tuple[bytes, bytes]], timeout: float) -> Response:
        """POST `body` to `path` with these headers (not Host or Content-Length, which this adds)."""
        request = b"".join([b"POST ", path, b" HTTP/1.1\r\nhost: ", self.host_header,
                            b"\r\ncontent-length: ", b"%d" % len(body), b"\r\n",
                            *[b"%s: %s\r\n" % header for header in headers], b"\r\n", body])
        deadline = self.loop.time() + timeout
        connection = self._idle() or await self._acquire(deadline, timeout)
        try:
            answer = connection.request(request)
            # A timer, not asyncio.timeout: this is every request's path, and the timer is cheaper.
            timer = self.loop.call_at(deadline, connection.expire, timeout)
            try:
                response = await answer
            finally:
                timer.cancel()
        except BaseException:
            self._release(connection, reuse=False)
            raise
        self._release(connection, reuse=connection.keep_alive)
        return response

    def close(self) -> None:
        self.closed = True
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()
            self._free_place()

    def forget(self, connection: _Connection) -> None:
        """A connection closed by the replica while idle leaves the pool and frees its place."""
        if connection in self.idle:
            self.idle.remove(connection)
            self._free_place()

    # --- connections ---------------------------------------------------------------------

    def _idle(self) -> _Connection | None:
        """The most recently used idle connection still fit for a request, if any."""
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            if not connection.lost and now - connection.idle_since < MAX_IDLE_S:
                return connection
            connection.close()
            self._free_place()
        return None

    async def _acquire(self, deadline: float, timeout: float) -> _Connection:
        """A new connection, or one handed back by another request when all places are taken."""
        try:
            async with asyncio.timeout_at(deadline):
                if self.open < self.max_connections:
                    self.open += 1
                    return await self._connect()
                return await self._wait_in_line()
        except TimeoutError:
            raise TimedOut(f"{self.endpoint}: no connection free within {timeout:g} s") from None

    async def _wait_in_line(self) -> _Connection:
        waiter: asyncio.Future[_Connection | None] = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over just as this request gave up
                given = waiter.result()
                if given is None:
                    self._free_place()
                else:
                    self._release(given, reuse=True)
            raise
        return handed if handed is not None else await self._connect()

    async def _connect(self) -> _Connection:
        """Open a connection in a place already counted in `open`; the place is freed if it fails."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                if self.endpoint.uds is not None:
                    _, connection = await self.loop.create_unix_connection(
                        lambda: _Connection(self), self.endpoint.uds)
                else:
                    _, connection = await self.loop.create_connection(
                        lambda: _Connection(self), *self.address, ssl=self.tls)
        except OSError as exc:  # TimeoutError is one
            self._free_place()
            raise ConnectionFailed(f"can't connect to {self.endpoint}: {type(exc).__name__}: {exc}") from None
        except BaseException:
            self._free_place()
            raise
        return connection

    def _release(self, connection: _Connection, *, reuse: bool) -> None:
        if not reuse or connection.lost or self.closed:
            connection.close()
            self._free_place()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        connection.idle_since = time.monotonic()
        self.idle.append(connection)

    def _free_place(self) -> None:
        """A connection's place is free: the first waiter gets it to connect, else it is given up."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1
