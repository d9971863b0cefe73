"""A client's HTTP/1.1 connection to the gateway, without uvicorn's ASGI request cycle.

Requests are parsed by httptools, handed to `Gateway.answer` (serving/gateway.py) and answered
in one write. uvicorn's own ASGI cycle cost as much CPU per request as all the rest of the
gateway, and the gateway shares its cores with the replicas. uvicorn still makes one
`ClientConnection` per connection (`http=ClientConnection`), tracks it and stops it; this
relies on the interface uvicorn's own protocols use (pinned uvicorn: run
tests/serving/test_gateway_connection.py after an upgrade).

A client can't hold the gateway: a request's headers must arrive within `header_timeout_s` of
its first byte (or of the connection, for its first request) and its body within
`body_timeout_s` of its headers, else it gets 408 and the connection closes; a request is only
handed on once its body is whole. A timer is armed only for a request that did not arrive in
one read, so the usual small request costs none.

At most `max_connections` connections are open. When a new one would go past that, the oldest
connection that has not yet sent a whole request (an idle or slow client's: a flood's) is
closed to make room. When every open connection has sent one, the new connection is still read,
but any request on it other than a health check or a metrics scrape (the gateway's own paths,
wanted most when it is overloaded) gets a fast 503 with `Retry-After`, counted in /metrics, and
the connection closes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from urllib.parse import unquote

import httptools
import orjson

from serving.logs import log_event

if TYPE_CHECKING:
    import uvicorn
    from uvicorn.server import ServerState

    from serving.gateway import Gateway

Headers = list[tuple[bytes, bytes]]
MAX_BODY = 64 * 1024 * 1024
STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
JSON = (b"content-type", b"application/json")
OWN_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})  # answered even over capacity
RETRY_AFTER_S = 1
IDLE, HEADERS, BODY = 0, 1, 2  # what a connection is reading


@dataclass(frozen=True)
class Limits:
    """What clients may hold of the gateway; set by `python -m serving.gateway` flags."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 4096
    max_pending: int = 1024  # requests waiting for replicas (serving/gateway.py)


def error_body(status: int, message: str) -> bytes:
    """The model server's error shape (serving/rest.py error_response)."""
    return orjson.dumps({"error": message, "status": status})


class Request(NamedTuple):
    method: bytes
    url: bytes
    headers: Headers
    body: bytes
    keep_alive: bool


class ClientConnection(asyncio.Protocol):
    """One client's connection: requests parsed by httptools and answered in order, one at a time
    (reading pauses while pipelined ones wait), the connection kept `timeout_keep_alive` s when
    idle. uvicorn makes one per connection (`http=ClientConnection`), tracks it in its server
    state and calls `shutdown` when stopping: idle connections close, busy ones after answering."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.gateway = cast("Gateway", config.app)
        self.limits: Limits = self.gateway.limits
        # connections that have not sent a whole request yet, oldest first: the first to make room
        self.unproven: OrderedDict[ClientConnection, None] = self.gateway.unproven_connections
        self.server = server_state
        self.connections: set[Any] = server_state.connections  # uvicorn types it as its own protocols
        self.keep_alive_s = config.timeout_keep_alive
        self.loop = _loop or asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[Request] = deque()  # pipelined requests, in order
        self.busy = False  # a request is being answered
        self.closing = False  # close once the requests already read are answered
        self.broken = False  # nothing more is read: malformed, too large or upgraded
        self.idle_timer: asyncio.TimerHandle | None = None
        self.reading = HEADERS  # a new connection owes its first request's headers
        self.read_timer: asyncio.TimerHandle | None = None
        self.timed = IDLE  # what read_timer waits for
        self.over_capacity = False  # opened past max_connections: only health checks are answered
        self.oversized = False  # a body went over MAX_BODY: nothing after it is answered
        # the request being read
        self.url = b""
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.size = 0
        self.expect = False

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.connections) >= self.limits.max_connections:
            # past the cap with no room to make: one answer (a health check's), then close
            self.over_capacity = self.closing = not self._make_room()
        self.connections.add(self)
        self.unproven[self] = None
        self._time_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.unproven.pop(self, None)
        self.closing = self.broken = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.read_timer is not None:
            self.read_timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.broken:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # no protocol switch here: answer what was asked, then close
            self.broken = self.closing = True
            if not self.busy and self.transport is not None:
                self.transport.close()
        except httptools.HttpParserError:
            self._refuse(400, "malformed HTTP request")
        if self.oversized:
            self._refuse(413, f"request body larger than {MAX_BODY} bytes")
        elif self.reading != self.timed:
            self._time_reading()

    def shutdown(self) -> None:
        """uvicorn is stopping."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # --- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body, self.size, self.expect = b"", [], [], 0, False
        self.reading = HEADERS

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect = True

    def on_headers_complete(self) -> None:
        self.reading = BODY
        if self.expect and not self.busy and self.transport is not None:
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_BODY:
            self.oversized = True
        elif not self.oversized:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.reading = IDLE
        self.unproven.pop(self, None)
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer, self.timed = None, IDLE
        if self.oversized:
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        request = Request(self.parser.get_method(), self.url, self.headers, body, self.parser.should_keep_alive())
        if not self.busy:
            self._start(request)
            return
        if not self.waiting and self.transport is not None:
            self.transport.pause_reading()
        self.waiting.append(request)

    # --- answering -----------------------------------------------------------------------

    def _start(self, request: Request) -> None:
        self.busy = True
        task = self.loop.create_task(self._answer(request))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    async def _answer(self, request: Request) -> None:
        path = _path(request.url)
        if self.over_capacity and path not in OWN_PATHS:
            self.closing = True
            message = f"the gateway holds its most connections ({self.limits.max_connections}); retry shortly"
            rid = self.gateway.refused(request.headers, 503)
            self._write(503, error_body(503, message), [JSON, (b"retry-after", b"%d" % RETRY_AFTER_S), rid], False)
            return
        try:
            status, body, headers = await self.gateway.answer(request.method, path, request.headers, request.body)
        except Exception as exc:  # a bug: say so in the log and to the caller, keep serving
            rid = self.gateway.refused(request.headers, 500)
            log_event("gateway_error", level="error", request_id=rid[1].decode("latin-1"),
                      error=f"{type(exc).__name__}: {exc}")
            status, body, headers = 500, error_body(500, "the gateway failed; its log says why"), [JSON, rid]
        self._write(status, body, headers, request.keep_alive, head=request.method == b"HEAD")

    def _write(self, status: int, body: bytes, headers: Headers, keep_alive: bool, head: bool = False) -> None:
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        keep_alive = keep_alive and not (self.closing and not self.waiting)
        transport.write(b"".join([
            STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status,
            *[b"%s: %s\r\n" % header for header in self.server.default_headers],
            b"content-length: %d\r\n" % len(body),
            *[b"%s: %s\r\n" % header for header in headers],
            b"\r\n" if keep_alive else b"connection: close\r\n\r\n",
            b"" if head else body,
        ]))
        if not keep_alive:
            transport.close()
        elif self.waiting:
            self._start(self.waiting.popleft())
            if not self.waiting and not self.broken:
                transport.resume_reading()
        else:
            self._idle()

    def _refuse(self, status: int, message: str) -> None:
        """The connection can't go on: answer with this error and close, or, when an answer is still
        being worked out, let that one go out last and close after it."""
        self.broken = self.closing = True
        if not self.busy:
            self._write(status, error_body(status, message), [JSON], keep_alive=False)

    def _make_room(self) -> bool:
        """Close the oldest connection that has not sent a whole request; False if there is none."""
        if not self.unproven:
            return False
        victim, _ = self.unproven.popitem(last=False)
        self.connections.discard(victim)
        victim.broken = victim.closing = True
        if victim.transport is not None:
            victim.transport.close()  # a client that says nothing gets no answer either
        return True

    # --- timers: one at a time, armed per connection or per request, never per byte -----

    def _time_reading(self) -> None:
        """Arm the deadline of what is being read now (none between requests)."""
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None
        self.timed = self.reading
        if self.reading != IDLE:
            limit = self.limits.header_timeout_s if self.reading == HEADERS else self.limits.body_timeout_s
            self.read_timer = self.loop.call_later(limit, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self.read_timer = None
        if self.broken:
            return
        if self.waiting:  # reading paused until the requests ahead are answered: not the client's fault
            self.timed = IDLE
            self._time_reading()
            return
        if self.timed == HEADERS:
            self._refuse(408, f"the request's headers did not arrive within {self.limits.header_timeout_s:g} s")
        else:
            self._refuse(408, f"the request's body did not arrive within {self.limits.body_timeout_s:g} s")

    def _idle(self) -> None:
        if self.closing:
            if self.transport is not None:
                self.transport.close()
            return
        self.idle_timer = self.loop.call_later(self.keep_alive_s, self._idle_out)

    def _idle_out(self) -> None:
        if self.transport is not None and not self.busy:
            self.transport.close()


def _path(url: bytes) -> str:
    """The decoded path of a request target (origin form as clients send it, or absolute form)."""
    if not url.startswith(b"/"):
        try:
            url = httptools.parse_url(url).path or b"/"
        except httptools.HttpParserInvalidURLError:
            return url.decode("latin-1")
    path = url.partition(b"?")[0].decode("latin-1")
    return unquote(path) if "%" in path else path
