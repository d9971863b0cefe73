"""Live log lines at `/ws/deployments/<pk>/logs/`, through the real ASGI app and channels-redis.

Lines are written to the files the local runtime's replicas write (tests/logs/conftest.py); the
reader, its Redis lease and the group are the real ones.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from itertools import count

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from console.asgi import application
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.logs import fanout, hub
from deployments.models import Deployment
from tests.fixtures.sockets import connect_and_leave
from tests.logs.conftest import CHALLENGER, REPLICA, json_line, request_line, write
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)
ROW = re.compile(r'<div class="log-line[^"]*" data-key="([^"]+)"[^>]*>([^<]*)</div>')
_probes = count()


def logs_socket(deployment: Deployment, headers: list[tuple[bytes, bytes]], query: str = "") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/logs/?{query}", headers=headers)


async def two_viewers(deployment: Deployment, headers: list[tuple[bytes, bytes]], request_id: str = "wanted",
                      ) -> tuple[WebsocketCommunicator, WebsocketCommunicator]:
    """Two connected Logs tab sockets: one with every line, one filtered to `request_id`'s."""
    everything = logs_socket(deployment, headers)
    one_request = logs_socket(deployment, headers, f"request_id={request_id}")
    assert (await everything.connect())[0]
    assert (await one_request.connect())[0]
    return everything, one_request


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def now_ts() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


async def rows(socket: WebsocketCommunicator, timeout: float = 10) -> list[tuple[str, str]] | None:
    """(key, text) of each line in the socket's next message; None when none came within `timeout`.

    Waits with receive_nothing: a receive_from that times out cancels the consumer."""
    deadline = time.monotonic() + timeout
    while await socket.receive_nothing(timeout=0.1, interval=0.02):
        if time.monotonic() > deadline:
            return None
    return ROW.findall(await socket.receive_from(timeout=10))


async def live(deployment: Deployment, *sockets: WebsocketCommunicator, source: str = REPLICA) -> None:
    """Wait until a reader follows the files: write probe lines until every socket has received one
    (the reader starts reading at the files' end, so a line written before it started is history)."""
    waiting = set(range(len(sockets)))
    deadline = time.monotonic() + 60
    while waiting:
        assert time.monotonic() < deadline, "no log line reached the sockets within 60 s"
        write(deployment, source, request_line(now_ts(), f"probe-{next(_probes)}"))
        for index in list(waiting):
            received = await rows(sockets[index], timeout=0.5)
            if received and any("req=probe-" in text for _, text in received):
                waiting.discard(index)


async def collect(socket: WebsocketCommunicator, wanted: int, timeout: float = 30) -> list[str]:
    """The request ids of the next `wanted` non-probe lines (fewer if none arrive for `timeout`)."""
    found: list[str] = []
    while len(found) < wanted:
        received = await rows(socket, timeout=timeout)
        if received is None:
            break
        found += [m for _, text in received if (m := text.rsplit("req=", 1)[-1]) and not m.startswith("probe-")]
    return found


async def reader(deployment: Deployment) -> str | None:
    redis = fanout.client()
    try:
        return await fanout.reader_token(redis, deployment.pk)
    finally:
        await redis.aclose()


def test_an_anonymous_visitor_is_refused(deployment):
    headers = session_headers(None)

    async def scenario() -> None:
        assert await connect_and_leave(logs_socket(deployment, headers)) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_outsider_is_refused(deployment, other_project, charlie):
    headers = session_headers(charlie)

    async def scenario() -> None:
        assert await connect_and_leave(logs_socket(deployment, headers)) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_a_line_a_replica_writes_reaches_a_viewer_and_filters_apply(deployment, bob):
    headers = session_headers(bob)

    async def scenario() -> None:
        everything, one_request = await two_viewers(deployment, headers)
        await live(deployment, everything)

        write(deployment, CHALLENGER, request_line(now_ts(), "other"), request_line(now_ts(), "wanted"))

        assert await collect(everything, 2) == ["other", "wanted"]
        received = await rows(one_request) or []
        assert [text.rsplit("req=", 1)[-1] for _, text in received] == ["wanted"]
        assert f"{CHALLENGER}  request  POST /v1/predict 200 3.1 ms" in received[0][1]
        await everything.disconnect()
        await one_request.disconnect()

    run(scenario)


def test_several_viewers_share_one_reader_and_each_gets_every_line_once_over_several_lease_ttls(
        deployment, bob, alice, settings):
    settings.BERTH_LOG_READER_TTL_S = 2  # renewed every ~0.7 s; the test runs over 3 TTLs
    viewers = [session_headers(bob), session_headers(alice), session_headers(bob)]

    async def scenario() -> None:
        sockets = [logs_socket(deployment, headers) for headers in viewers]
        for socket in sockets:
            assert (await socket.connect())[0]
        await live(deployment, *sockets)
        holder = await reader(deployment)
        assert holder is not None

        sent: list[str] = []
        started = time.monotonic()
        while time.monotonic() - started < 3 * fanout.reader_ttl_s():
            sent.append(f"line-{len(sent)}")
            write(deployment, REPLICA, request_line(now_ts(), sent[-1]))
            await asyncio.sleep(0.2)

        for socket in sockets:
            assert await collect(socket, len(sent)) == sent  # each once, in order: one reader, never two
        assert await reader(deployment) == holder  # the same reader all along
        for socket in sockets:
            await socket.disconnect()

    run(scenario)


def test_the_reader_stops_when_the_last_viewer_leaves(deployment, bob, settings):
    settings.BERTH_LOG_READER_TTL_S = 2
    headers = session_headers(bob)

    async def scenario() -> None:
        first, second = logs_socket(deployment, headers), logs_socket(deployment, headers)
        assert (await first.connect())[0]
        assert (await second.connect())[0]
        await live(deployment, first, second)
        await first.disconnect()
        await asyncio.sleep(2 * fanout.reader_ttl_s())
        assert await reader(deployment) is not None  # one viewer still watches

        await second.disconnect()

        deadline = time.monotonic() + 30
        while await reader(deployment) is not None:
            assert time.monotonic() < deadline, "the reader still holds its lease with nobody watching"
            await asyncio.sleep(0.2)

    run(scenario)


def test_when_the_readers_process_dies_a_viewer_takes_over_once_its_lease_expires(deployment, bob, settings):
    settings.BERTH_LOG_READER_TTL_S = 2
    headers = session_headers(bob)

    async def scenario() -> None:
        redis = fanout.client()
        # Another console process took the lease, then died: nobody renews it, nobody reads.
        await redis.set(fanout.lease_key(deployment.pk), "a-process-that-died", px=3000)
        await redis.aclose()
        socket = logs_socket(deployment, headers)
        assert (await socket.connect())[0]

        await live(deployment, socket)  # only after the dead lease expired can a line arrive

        assert await reader(deployment) not in (None, "a-process-that-died")
        write(deployment, REPLICA, request_line(now_ts(), "after-takeover"))
        assert await collect(socket, 1) == ["after-takeover"]
        await socket.disconnect()

    run(scenario)


def test_viewers_are_told_when_the_deployment_is_deleted(deployment, bob, settings):
    settings.BERTH_LOG_READER_TTL_S = 2
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = logs_socket(deployment, headers)
        assert (await socket.connect())[0]
        await live(deployment, socket)

        await sync_to_async(Deployment.objects.filter(pk=deployment.pk).delete)()

        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline
            output = await socket.receive_output(timeout=30)
            if output["type"] == "websocket.close":
                assert output["code"] == CLOSE_FORBIDDEN
                break

    run(scenario)


def test_a_reader_that_dies_says_so_in_the_console_log_with_its_reason(deployment, bob, settings, caplog):
    settings.BERTH_BACKEND = "nomad"  # a runtime the console has no adapter for: the reader cannot start
    settings.BERTH_LOG_READER_TTL_S = 2
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = logs_socket(deployment, headers)
        assert (await socket.connect())[0]
        deadline = time.monotonic() + 30
        while not any(r.name == "deployments.logs.fanout" and r.levelname == "ERROR" for r in caplog.records):
            assert time.monotonic() < deadline, "a reader died without a word"
            await asyncio.sleep(0.2)
        await socket.disconnect()

    run(scenario)

    died = next(r for r in caplog.records if r.name == "deployments.logs.fanout" and r.levelname == "ERROR")
    assert died.getMessage().startswith(f"log reader of deployment {deployment.pk} died: BackendError: BERTH_BACKEND")
    assert died.exc_info is not None  # with its traceback


def test_many_viewers_in_one_process_get_every_line_once_in_order_through_one_group_member(deployment, bob):
    """However many sockets watch in a console process, the group has one member (the process's hub),
    and each socket still gets every line its filter matches, once and in order."""
    headers = session_headers(bob)

    async def scenario() -> None:
        everything = [logs_socket(deployment, headers) for _ in range(12)]
        errors_only = [logs_socket(deployment, headers, "level=error") for _ in range(4)]
        for socket in everything + errors_only:
            assert (await socket.connect())[0]
        await live(deployment, *everything)
        local = hub.local_hub(deployment.pk)
        assert local is not None
        assert len(local.viewers) == 16
        layer = get_channel_layer()
        redis = fanout.client()
        try:
            members = await redis.zrange(layer._group_key(fanout.logs_group(deployment.pk)), 0, -1)
        finally:
            await redis.aclose()
        assert [member.decode() if isinstance(member, bytes) else member for member in members] == [local.channel]

        sent = [f"line-{n}" for n in range(60)]
        for n, request_id in enumerate(sent):
            write(deployment, REPLICA, json_line(now_ts(), "request", level="error" if n % 3 == 0 else "info",
                                                 request_id=request_id, method="POST", path="/v1/predict",
                                                 status=200, latency_ms=1.0))
            if n % 10 == 9:
                await asyncio.sleep(0.1)  # lines over several of the reader's batches

        for socket in everything:
            assert await collect(socket, len(sent)) == sent
        for socket in errors_only:
            assert await collect(socket, len(sent[::3])) == sent[::3]
        for socket in everything + errors_only:
            await socket.disconnect()
        assert hub.local_hub(deployment.pk) is None  # the last viewer's leaving closed the hub

    run(scenario)


def test_a_hub_that_dies_says_so_and_closes_its_sockets_so_pages_reconnect(deployment, bob, caplog):
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = logs_socket(deployment, headers)
        assert (await socket.connect())[0]
        await live(deployment, socket)

        # A batch this console cannot read (say, from a console of another version sharing the layer).
        await get_channel_layer().group_send(fanout.logs_group(deployment.pk),
                                             {"type": "logs.lines", "lines": [{"not": "a line"}]})

        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the socket stayed open on a dead hub"
            output = await socket.receive_output(timeout=30)
            if output["type"] == "websocket.close":
                assert output["code"] == 1013  # try again: the page reconnects
                break
        again = logs_socket(deployment, headers)
        assert (await again.connect())[0]
        await live(deployment, again)  # a new hub delivers again
        await again.disconnect()

    run(scenario)

    died = next(r for r in caplog.records if r.name == "deployments.logs.hub" and r.levelname == "ERROR")
    assert died.getMessage().startswith(f"log hub of deployment {deployment.pk} died: KeyError")
    assert died.exc_info is not None  # with its traceback
