"""uvicorn's httptools protocol, writing each small response in one piece, with read deadlines.

uvicorn writes a response's status line and headers, then its body: two write(2) calls, two
TCP segments and two wake-ups of the client for a body of a few bytes. Here each connection's
transport holds a header block until the body that follows it in the same loop step, and
writes both at once. Nothing else waits: any other write goes out as it comes, after whatever
is held, and a held block that no body follows (a HEAD answer, `100 Continue`) leaves on the
next loop turn. The order of the bytes on the connection never changes.

uvicorn waits for a request's headers and body as long as the client likes (a client sending
half its headers held a worker's connection for good). Here a request's headers must arrive
within `header_timeout_s` of its first byte (a new connection's first request: of the
connection) and its body within `body_timeout_s` of its headers, else the client gets 408 and
the connection closes (after the answer on its way, if there is one); the app, if it was
waiting for that body, sees the client gone. A timer is armed only for a request that did
not arrive in one read. The deadlines are set once by the composition root
(`set_read_timeouts`, serving/server.py) before it forks the processes that serve.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_HEADERS_END = b"\r\n\r\n"
IDLE, HEADERS, BODY = 0, 1, 2  # what a connection is reading
_timeouts = {HEADERS: 10.0, BODY: 30.0}


def set_read_timeouts(header_s: float, body_s: float) -> None:
    """The deadlines of every connection this process (and the processes it forks) serves."""
    _timeouts[HEADERS], _timeouts[BODY] = header_s, body_s


def timeout_response(what: str, seconds: float) -> bytes:
    body = orjson.dumps({"error": f"the request's {what} did not arrive within {seconds:g} s", "status": 408})
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), body))


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    _reading = HEADERS  # a new connection owes its first request's headers
    _timed = IDLE  # what _read_timer waits for
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWriteTransport(transport, self.loop))  # type: ignore[arg-type]
        self._time_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading != self._timed:
            self._time_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = HEADERS

    def on_headers_complete(self) -> None:
        self._reading = BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading = IDLE
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer, self._timed = None, IDLE
        super().on_message_complete()

    def _time_reading(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self._timed = self._reading
        if self._reading != IDLE:
            self._read_timer = self.loop.call_later(_timeouts[self._reading], self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # the server stopped reading (pipelining, a body not yet taken)
            self._timed = IDLE
            self._time_reading()
            return
        cycle, what = self.cycle, self._timed
        if cycle is not None and not cycle.response_complete:
            if what == HEADERS or cycle.response_started:
                cycle.keep_alive = False  # an answer is on its way: it goes out, then the connection closes
                return
            cycle.disconnected = True  # the app waits for a body that won't come: the client is gone
            cycle.message_event.set()
        elif what == BODY:  # answered early (413, 415…); the rest of the body never came
            self.transport.close()
            return
        self.transport.write(timeout_response("headers" if what == HEADERS else "body", _timeouts[what]))
        self.transport.close()


class _OneWriteTransport:
    """A transport that holds a header block until the next write (or the next loop turn)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.startswith(_STATUS_LINE) and data.endswith(_HEADERS_END):
            self._held = data
            self._loop.call_soon(self._release)
        else:
            self._transport.write(data)

    def writelines(self, lines: list[bytes]) -> None:
        self.write(b"".join(lines))

    def close(self) -> None:
        self._release()
        self._transport.close()

    def _release(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
