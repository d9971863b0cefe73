"""uvicorn's httptools protocol, writing each small response in one piece.

uvicorn writes a response's status line and headers, then its body: two write(2) calls, two
TCP segments and two wake-ups of the client for a body of a few bytes. Here each connection's
transport holds a header block until the body that follows it in the same loop step, and
writes both at once. Nothing else waits: any other write goes out as it comes, after whatever
is held, and a held block that no body follows (a HEAD answer, `100 Continue`) leaves on the
next loop turn. The order of the bytes on the connection never changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_HEADERS_END = b"\r\n\r\n"


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWriteTransport(transport, self.loop))  # type: ignore[arg-type]


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
