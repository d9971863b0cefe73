"""The gateway's client for replicas (serving/upstream.py) against stand-in replicas on Unix sockets:
keep-alive reuse, the connection limit, Connection: close, chunked answers, and each way a
request fails (no socket, closed mid-answer, no answer in time)."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from serving.endpoints import Endpoint
from serving.upstream import ConnectionFailed, Pool, TimedOut
from tests.serving.test_unix_socket import short_dir

T = TypeVar("T")
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes], Awaitable[bool]]
HEADERS = [(b"content-type", b"application/json")]


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop, the gateway's loop."""
    return uvloop.run(scenario)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                 % (len(body), body))
    return True


def slow(seconds: float) -> Answer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
        await asyncio.sleep(seconds)
        return await echo(reader, writer, head, body)
    return answer


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
    await reader.read()  # until the gateway hangs up
    return False


async def then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    return False


async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n")
    return True


async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n[1,")
    return False


class FakeReplica:
    """A replica stand-in on a Unix socket: reads each request (a Content-Length body) and lets
    `answer` reply, which returns whether to keep the connection. Counts the connections it
    accepted and those still open, and keeps the requests."""

    def __init__(self, path: Path, answer: Answer = echo) -> None:
        self.path = str(path)
        self.endpoint = f"unix:{path}"
        self.answer = answer
        self.accepted = 0
        self.open = 0
        self.busy = 0
        self.most_busy = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeReplica:
        self.server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()

    def pool(self, **options: Any) -> Pool:
        return Pool(Endpoint.parse(self.endpoint), **options)

    async def wait_closed(self, open_at_most: int = 0) -> None:
        """Until the replica holds at most this many connections (the gateway closed the others)."""
        for _ in range(200):
            if self.open <= open_at_most:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{self.open} connections still open, expected at most {open_at_most}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"\r\ncontent-length: (\d+)\r\n", head, re.IGNORECASE)
                body = await reader.readexactly(int(length.group(1)) if length else 0)
                self.requests.append((head, body))
                self.busy += 1
                self.most_busy = max(self.most_busy, self.busy)
                try:
                    keep = await self.answer(reader, writer, head, body)
                finally:
                    self.busy -= 1
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
def sockets() -> Iterator[Path]:
    folder = short_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_requests_one_after_another_share_one_kept_alive_connection(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock") as replica:
            pool = replica.pool()
            for n in range(5):
                response = await pool.post(b"/v1/predict", b"[%d]" % n, [*HEADERS, (b"x-request-id", b"r1")], 5)
                assert (response.status, response.body) == (200, b"[%d]" % n)
            assert replica.accepted == 1
            head = replica.requests[0][0]
            assert head.startswith(b"POST /v1/predict HTTP/1.1\r\n")
            for line in (b"host: replica", b"content-length: 3", b"content-type: application/json", b"x-request-id: r1"):
                assert b"\r\n" + line + b"\r\n" in head

    run(scenario())


def test_concurrent_requests_wait_in_line_once_the_connection_limit_is_reached(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", slow(0.05)) as replica:
            pool = replica.pool(max_connections=2)
            responses = await asyncio.gather(*[pool.post(b"/v1/predict", b"[%d]" % n, HEADERS, 5) for n in range(8)])
            assert [r.body for r in responses] == [b"[%d]" % n for n in range(8)]
            assert replica.accepted == 2
            assert replica.most_busy == 2
            assert pool.open == 2

    run(scenario())


def test_a_replica_saying_connection_close_gets_a_new_connection_next_time(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", then_close) as replica:
            pool = replica.pool()
            assert [(await pool.post(b"/v1/predict", b"[1]", HEADERS, 5)).status for _ in range(3)] == [200] * 3
            assert replica.accepted == 3
            await replica.wait_closed()
            assert pool.open == 0

    run(scenario())


def test_a_chunked_answer_is_read_whole(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", chunked) as replica:
            pool = replica.pool()
            for _ in range(2):
                response = await pool.post(b"/v1/predict", b"[1]", HEADERS, 5)
                assert (response.status, response.body) == (201, b"[1,2]")
            assert replica.accepted == 1

    run(scenario())


def test_a_replica_that_does_not_answer_in_time_times_out_and_its_connection_is_closed(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", silent) as replica:
            pool = replica.pool()
            with pytest.raises(TimedOut, match=r"did not answer within 0\.2 s"):
                await pool.post(b"/v1/predict", b"[1]", HEADERS, 0.2)
            await replica.wait_closed()
            assert pool.open == 0

    run(scenario())


def test_no_socket_and_a_refused_port_are_connection_failures(sockets):
    async def scenario() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connecting is refused
            for endpoint in (f"unix:{sockets / 'missing.sock'}", f"http://127.0.0.1:{port}"):
                pool = Pool(Endpoint.parse(endpoint))
                with pytest.raises(ConnectionFailed, match="can't connect to"):
                    await pool.post(b"/v1/predict", b"[1]", HEADERS, 5)
                assert pool.open == 0

    run(scenario())


def test_a_replica_closing_in_the_middle_of_an_answer_is_a_connection_failure(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", half) as replica:
            pool = replica.pool()
            with pytest.raises(ConnectionFailed, match="closed the connection before answering"):
                await pool.post(b"/v1/predict", b"[1]", HEADERS, 5)
            assert pool.open == 0

    run(scenario())


def test_an_idle_connection_the_replica_closed_is_dropped_not_used(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock") as replica:
            pool = replica.pool()
            assert (await pool.post(b"/v1/predict", b"[1]", HEADERS, 5)).status == 200
            replica.writers[0].close()  # the replica's keep-alive ran out
            await replica.wait_closed()
            await asyncio.sleep(0.05)
            assert (await pool.post(b"/v1/predict", b"[2]", HEADERS, 5)).body == b"[2]"
            assert replica.accepted == 2
            assert pool.open == 1

    run(scenario())


def test_a_closed_pool_lets_its_busy_request_finish_then_closes_every_connection(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", slow(0.2)) as replica:
            pool = replica.pool()
            await asyncio.gather(*[pool.post(b"/v1/predict", b"[0]", HEADERS, 5) for _ in range(2)])  # two idle
            busy = asyncio.ensure_future(pool.post(b"/v1/predict", b"[1]", HEADERS, 5))
            await asyncio.sleep(0.05)
            pool.close()
            await replica.wait_closed(open_at_most=1)  # the idle one closed at once
            assert (await busy).body == b"[1]"
            await replica.wait_closed()
            assert pool.open == 0

    run(scenario())


def test_a_request_that_gives_up_waiting_in_line_leaves_the_pool_whole(sockets):
    async def scenario() -> None:
        async with FakeReplica(sockets / "r.sock", slow(0.3)) as replica:
            pool = replica.pool(max_connections=1)
            first = asyncio.ensure_future(pool.post(b"/v1/predict", b"[1]", HEADERS, 5))
            await asyncio.sleep(0.05)
            with pytest.raises(TimedOut, match=r"no connection free within 0\.05 s"):
                await pool.post(b"/v1/predict", b"[2]", HEADERS, 0.05)
            assert (await first).body == b"[1]"
            assert (await pool.post(b"/v1/predict", b"[3]", HEADERS, 5)).body == b"[3]"
            assert replica.accepted == 1
            assert (pool.open, len(pool.idle), len(pool.waiters)) == (1, 1, 0)

    run(scenario())
