"""The model server's connection protocol: the transport that writes a response's header block and
body in one piece, and the read deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import uvicorn
from uvicorn.server import ServerState

from serving.http_protocol import OneWriteHttpToolsProtocol, _OneWriteTransport, set_read_timeouts, timeout_response

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def run(steps: list[str]) -> Recorder:
    recorder = Recorder()

    async def main() -> None:
        transport = _OneWriteTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
        for step in steps:
            if step == "head":
                transport.write(HEAD)
            elif step == "body":
                transport.write(b"{}")
            elif step == "close":
                transport.close()
            elif step == "turn":
                await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    return recorder


def test_a_header_block_and_its_body_leave_in_one_write() -> None:
    assert run(["head", "body"]).writes == [HEAD + b"{}"]


def test_a_header_block_no_body_follows_leaves_on_the_next_loop_turn() -> None:
    assert run(["head", "turn", "body"]).writes == [HEAD, b"{}"]


def test_closing_writes_what_is_held_first() -> None:
    recorder = run(["head", "close"])
    assert recorder.writes == [HEAD]
    assert recorder.closed


def test_other_writes_go_out_as_they_come_and_the_transport_answers_the_rest() -> None:
    recorder = run(["body", "body"])
    assert recorder.writes == [b"{}", b"{}"]
    loop = asyncio.new_event_loop()
    try:
        assert _OneWriteTransport(recorder, loop).get_extra_info("peername") == "info peername"  # type: ignore[arg-type]
    finally:
        loop.close()


class Socket(Recorder):
    """A recording transport as uvicorn's protocol needs one: no socket details, reading paused or not."""

    def get_extra_info(self, name: str) -> None:  # type: ignore[override]
        return None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """Answers every request with {} once its whole body is read (and `gate` is open)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})


def serve(steps: Callable[[OneWriteHttpToolsProtocol, Recorder], Awaitable[None]]) -> Recorder:
    """A connection of the model server's protocol over a recording transport, driven by `steps`;
    the app is the protocol's `config.app`."""
    recorder = Socket()

    async def main() -> None:
        config = uvicorn.Config(App(), lifespan="off", log_config=None, proxy_headers=False)
        config.load()
        protocol = OneWriteHttpToolsProtocol(config, ServerState(), {})
        protocol.connection_made(recorder)  # type: ignore[arg-type]
        try:
            await steps(protocol, recorder)
        finally:
            set_read_timeouts(10.0, 30.0)

    asyncio.run(main())
    return recorder


REQUEST = b"POST /v1/predict HTTP/1.1\r\nhost: r\r\ncontent-length: 2\r\n\r\n[]"


def test_a_request_that_arrives_in_one_read_arms_no_read_timer() -> None:
    async def steps(protocol: OneWriteHttpToolsProtocol, recorder: Recorder) -> None:
        assert protocol._read_timer is not None  # a new connection owes its first request's headers
        protocol.data_received(REQUEST)
        assert protocol._read_timer is None
        await asyncio.sleep(0.01)
        protocol.data_received(REQUEST)
        assert protocol._read_timer is None

    assert serve(steps).writes[0].endswith(b"\r\n\r\n{}")


def test_half_a_body_gets_408_once_the_body_timeout_is_up() -> None:
    async def steps(protocol: OneWriteHttpToolsProtocol, recorder: Recorder) -> None:
        set_read_timeouts(5.0, 0.05)
        protocol.data_received(REQUEST[:-1])
        assert protocol._read_timer is not None
        await asyncio.sleep(0.2)

    recorder = serve(steps)
    assert b"".join(recorder.writes) == timeout_response("body", 0.05)
    assert recorder.closed


def test_an_answer_on_its_way_goes_out_before_late_headers_close_the_connection() -> None:
    async def steps(protocol: OneWriteHttpToolsProtocol, recorder: Recorder) -> None:
        set_read_timeouts(0.05, 5.0)
        app = cast(App, protocol.config.app)
        app.gate.clear()
        protocol.data_received(REQUEST + b"POST /v1/predict HTTP/1.1\r\n")  # the next one's headers never end
        await asyncio.sleep(0.2)
        assert (recorder.writes, recorder.closed) == ([], False)
        app.gate.set()
        await asyncio.sleep(0.05)

    recorder = serve(steps)
    assert b"".join(recorder.writes).endswith(b"connection: close\r\n\r\n{}")
    assert recorder.closed
