"""A client's connection to the gateway (serving/gateway_http.py ClientConnection), in process, with a
stand-in transport and gateway: HTTP/1.1 as clients speak it, pipelining, limits and shutdown."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from uvicorn.server import ServerState

from serving import gateway_http as gateway_module
from serving.gateway_http import JSON, ClientConnection, Headers, Limits
from tests.serving.test_gateway_upstream import run

POST = b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 3\r\n\r\n[%d]"


class Transport:
    """What the connection writes, and whether it closed or paused reading."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Gateway:
    """Answers each request with its path and body once `gate` is open; raises on /boom."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.unproven_connections: OrderedDict[Any, None] = OrderedDict()
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls: list[tuple[bytes, str, Headers, bytes]] = []
        self.refusals: list[int] = []

    def refused(self, headers: Headers, status: int) -> tuple[bytes, bytes]:
        self.refusals.append(status)
        return b"x-request-id", dict(headers).get(b"x-request-id", b"made-here")

    async def answer(self, method: bytes, path: str, headers: Headers, body: bytes) -> tuple[int, bytes, Headers]:
        self.calls.append((method, path, headers, body))
        await self.gate.wait()
        if path == "/boom":
            raise RuntimeError("a bug")
        return 200, body, [JSON, (b"x-berth-variation", b"default")]


def ok(body: bytes, close: bool = False) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\ncontent-type: application/json\r\nx-berth-variation: default\r\n"
            b"%s\r\n%s" % (len(body), b"connection: close\r\n" if close else b"", body))


def connect(gateway: Gateway, keep_alive_s: float = 75) -> tuple[ClientConnection, Transport, ServerState]:
    server = ServerState()
    config = SimpleNamespace(app=gateway, timeout_keep_alive=keep_alive_s)
    connection = ClientConnection(cast(Any, config), server, {})
    transport = Transport()
    connection.connection_made(cast(Any, transport))
    return connection, transport, server


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_pipelined_requests_are_answered_in_order_one_at_a_time():
    async def scenario() -> None:
        gateway = Gateway()
        gateway.gate.clear()
        connection, transport, server = connect(gateway)
        connection.data_received(POST % 1 + POST % 2)
        await settle()
        assert [call[3] for call in gateway.calls] == [b"[1]"]
        assert not transport.reading
        gateway.gate.set()
        await settle()
        assert transport.written == ok(b"[1]") + ok(b"[2]")
        assert transport.reading
        assert not transport.closed
        assert not server.tasks
        method, path, headers, _ = gateway.calls[0]
        assert (method, path) == (b"POST", "/v1/models/iris/predict")
        assert (b"content-type", b"application/json") in headers

    run(scenario())


@pytest.mark.parametrize("request_line", [
    b"POST /v1/models/iris/predict HTTP/1.1\r\nconnection: close\r\n",
    b"POST /v1/models/iris/predict HTTP/1.0\r\n",
])
def test_a_request_asking_for_no_keep_alive_is_answered_then_the_connection_closes(request_line):
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway())
        connection.data_received(request_line + b"content-length: 3\r\n\r\n[1]")
        await settle()
        assert transport.written == ok(b"[1]", close=True)
        assert transport.closed

    run(scenario())


def test_a_body_over_the_cap_gets_413_and_the_connection_closes(monkeypatch):
    monkeypatch.setattr(gateway_module, "MAX_BODY", 10)

    async def scenario() -> None:
        gateway = Gateway()
        connection, transport, _ = connect(gateway)
        connection.data_received(b"POST /v1/models/iris/predict HTTP/1.1\r\ncontent-length: 20\r\n\r\n[1,2,3,4,")
        connection.data_received(b"5,6,7,8,9]")
        await settle()
        assert transport.written.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
        assert orjson.loads(transport.written.split(b"\r\n\r\n", 1)[1]) == {"error": "request body larger than 10 bytes",
                                                                             "status": 413}
        assert transport.closed
        assert gateway.calls == []

    run(scenario())


def test_a_malformed_request_gets_400_and_the_connection_closes():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway())
        connection.data_received(b"POST /v1/models/iris/predict HTTP/1.1\r\ncontent-length: x\r\n\r\n")
        assert transport.written.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert transport.written.endswith(b'{"error":"malformed HTTP request","status":400}')
        assert transport.closed

    run(scenario())


def test_a_client_expecting_100_continue_is_told_to_go_on():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway())
        connection.data_received(b"POST /v1/models/iris/predict HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n")
        assert transport.written == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.data_received(b"[1]")
        await settle()
        assert transport.written == b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[1]")

    run(scenario())


def test_a_failure_inside_the_gateway_is_a_json_500_and_the_connection_goes_on():
    async def scenario() -> None:
        gateway = Gateway()
        connection, transport, _ = connect(gateway)
        connection.data_received(b"POST /boom HTTP/1.1\r\nx-request-id: boom-1\r\ncontent-length: 0\r\n\r\n"
                                 + POST % 1)
        await settle()
        failed, rest = transport.written.split(b"HTTP/1.1 200 OK", 1)
        assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b"\r\nx-request-id: boom-1\r\n" in failed
        assert gateway.refusals == [500]
        assert failed.endswith(b'{"error":"the gateway failed; its log says why","status":500}')
        assert b"HTTP/1.1 200 OK" + rest == ok(b"[1]")

    run(scenario())


def test_shutdown_closes_an_idle_connection_at_once_and_a_busy_one_after_its_answer():
    async def scenario() -> None:
        idle, idle_transport, _ = connect(Gateway())
        idle.shutdown()
        assert idle_transport.closed
        gateway = Gateway()
        gateway.gate.clear()
        busy, transport, _ = connect(gateway)
        busy.data_received(POST % 1)
        await settle()
        busy.shutdown()
        assert not transport.closed
        gateway.gate.set()
        await settle()
        assert transport.written == ok(b"[1]", close=True)
        assert transport.closed

    run(scenario())


def test_an_idle_connection_closes_after_the_keep_alive_time():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway(), keep_alive_s=0.05)
        connection.data_received(POST % 1)
        await settle()
        assert not transport.closed
        await asyncio.sleep(0.1)
        assert transport.closed

    run(scenario())


def test_a_request_that_arrives_in_one_read_arms_no_read_timer():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway())
        assert connection.read_timer is not None  # a new connection owes its first request's headers
        connection.data_received(POST % 1)
        assert connection.read_timer is None
        await settle()
        connection.data_received(POST % 2)
        assert connection.read_timer is None
        await settle()
        assert transport.written == ok(b"[1]") + ok(b"[2]")

    run(scenario())


def test_a_request_split_over_reads_is_timed_for_its_headers_then_for_its_body():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway(Limits(header_timeout_s=0.05, body_timeout_s=5)))
        connection.data_received(b"POST /v1/models/iris/predict HTTP/1.1\r\ncontent-length: 3\r\n")
        headers_timer = connection.read_timer
        connection.data_received(b"\r\n[1")
        assert connection.read_timer is not None
        assert connection.read_timer is not headers_timer
        await asyncio.sleep(0.2)  # past the header timeout, well within the body's
        assert not transport.closed
        connection.data_received(b"]")
        assert connection.read_timer is None
        await settle()
        assert transport.written == ok(b"[1]")

    run(scenario())


def test_half_a_request_gets_408_once_its_time_is_up():
    async def scenario() -> None:
        connection, transport, _ = connect(Gateway(Limits(header_timeout_s=5, body_timeout_s=0.05)))
        connection.data_received(b"POST /v1/models/iris/predict HTTP/1.1\r\ncontent-length: 3\r\n\r\n[1")
        await asyncio.sleep(0.2)
        assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert orjson.loads(transport.written.split(b"\r\n\r\n", 1)[1]) == {
            "error": "the request's body did not arrive within 0.05 s", "status": 408}
        assert transport.closed

    run(scenario())


def test_a_request_waiting_behind_a_slow_answer_is_not_timed_out_for_it():
    async def scenario() -> None:
        gateway = Gateway(Limits(header_timeout_s=0.05, body_timeout_s=0.05))
        gateway.gate.clear()
        connection, transport, _ = connect(gateway)
        connection.data_received(POST % 1 + POST % 2 + b"POST /v1/models/iris/predict HTTP/1.1\r\n")
        await asyncio.sleep(0.2)  # reading is paused: the half request behind them is not the client's delay
        assert (transport.written, transport.closed) == (b"", False)
        gateway.gate.set()
        await settle()
        assert transport.written == ok(b"[1]") + ok(b"[2]")
        await asyncio.sleep(0.2)  # reading again: now its headers are late
        assert transport.written.endswith(b'"status":408}')
        assert transport.closed

    run(scenario())
