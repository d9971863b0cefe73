"""The gateway's forwarding, in process, in front of stand-in replicas: which replica a request
reaches, what is retried and what is not, shadow copies, and replicas leaving the routes."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from serving import gateway as gateway_module
from serving.gateway import Gateway
from tests.serving.test_gateway_upstream import FakeReplica, run, silent, slow
from tests.serving.test_unix_socket import short_dir

FORWARDED = [(b"content-type", b"application/json"), (b"x-request-id", b"r-1")]
PREDICT = "/v1/models/iris/predict"


@pytest.fixture
def sockets() -> Iterator[Path]:
    folder = short_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def write_routes(path: Path, version: str, **variations: tuple[int, list[str], bool]) -> Path:
    items = [{"name": name, "traffic_percent": percent, "timeout_ms": 200, "endpoints": endpoints, "shadow": shadow}
             for name, (percent, endpoints, shadow) in variations.items()]
    path.write_text(json.dumps({"version": version, "model_id": "iris", "variations": items}))
    return path


def started(routes: Path) -> Gateway:
    gateway = Gateway(routes)
    gateway.reload()
    return gateway


def test_requests_are_split_between_live_variations_and_say_which_answered(sockets, tmp_path):
    async def scenario() -> None:
        async with FakeReplica(sockets / "a.sock") as a, FakeReplica(sockets / "b.sock") as b:
            gateway = started(write_routes(tmp_path / "routes.json", "v1", default=(50, [a.endpoint], False),
                                           challenger=(50, [b.endpoint], False)))
            secret = (b"authorization", b"Bearer s3cret")
            answers = [await gateway.answer(b"POST", PREDICT, [*FORWARDED, secret], b"[%d]" % n) for n in range(40)]
            assert [(status, body) for status, body, _ in answers] == [(200, b"[%d]" % n) for n in range(40)]
            assert {headers[-1] for _, _, headers in answers} == {(b"x-berth-variation", b"default"),
                                                                (b"x-berth-variation", b"challenger")}
            head = a.requests[0][0]
            assert b"x-request-id: r-1" in head
            assert b"authorization" not in head
            assert (a.accepted, b.accepted) == (1, 1)
            for key in (b"user-1", b"user-2", b"user-3"):
                sticky = [(await gateway.answer(b"POST", PREDICT, [*FORWARDED, (b"x-berth-key", key)], b"[1]"))[2]
                          for _ in range(10)]
                assert len({tuple(headers) for headers in sticky}) == 1
            assert not any(b"x-berth-key" in head for head, _ in [*a.requests, *b.requests])

    run(scenario())


def test_a_missing_replica_costs_a_retry_on_the_next_one_not_an_error(sockets, tmp_path):
    async def scenario() -> None:
        async with FakeReplica(sockets / "a.sock") as a:
            missing = f"unix:{sockets / 'gone.sock'}"
            gateway = started(write_routes(tmp_path / "routes.json", "v1", default=(100, [missing, a.endpoint], False)))
            answers = [await gateway.answer(b"POST", PREDICT, FORWARDED, b"[1]") for _ in range(6)]
            assert [status for status, _, _ in answers] == [200] * 6
            assert len(a.requests) == 6

    run(scenario())


def test_a_replica_too_slow_answers_504_and_the_request_is_not_sent_again(sockets, tmp_path, monkeypatch):
    monkeypatch.setattr(gateway_module, "TIMEOUT_GRACE_S", 0.0)

    async def scenario() -> None:
        async with FakeReplica(sockets / "slow.sock", silent) as stuck, FakeReplica(sockets / "a.sock") as a:
            gateway = started(write_routes(tmp_path / "routes.json", "v1",
                                           default=(100, [stuck.endpoint, a.endpoint], False)))
            status, body, _ = await gateway.answer(b"POST", PREDICT, FORWARDED, b"[1]")  # round robin starts at the first
            assert (status, orjson.loads(body)) == (504, {"error": "variation default did not answer in time",
                                                         "status": 504})
            assert a.requests == []
            await stuck.wait_closed()

    run(scenario())


def test_a_shadow_variation_gets_a_copy_and_its_answer_is_dropped(sockets, tmp_path):
    async def failing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\n\"shadow!\"")
        return True

    async def scenario() -> None:
        async with FakeReplica(sockets / "a.sock") as a, FakeReplica(sockets / "s.sock", failing) as shadow:
            gateway = started(write_routes(tmp_path / "routes.json", "v1", default=(100, [a.endpoint], False),
                                           candidate=(100, [shadow.endpoint], True)))
            status, body, headers = await gateway.answer(b"POST", PREDICT, FORWARDED, b"[7]")
            assert (status, body, headers) == (200, b"[7]", [(b"content-type", b"application/json"),
                                                             (b"x-berth-variation", b"default")])
            for _ in range(100):
                if shadow.requests:
                    break
                await asyncio.sleep(0.01)
            assert [body for _, body in shadow.requests] == [b"[7]"]
            by_name = await gateway.answer(b"POST", "/v1/models/iris/candidate/predict", FORWARDED, b"[8]")
            assert by_name[0] == 500  # called by name, a shadow answers like any variation

    run(scenario())


def test_a_replica_leaving_the_routes_finishes_its_requests_then_its_connections_close(sockets, tmp_path):
    async def scenario() -> None:
        async with FakeReplica(sockets / "a.sock", slow(0.2)) as old, FakeReplica(sockets / "b.sock") as new:
            routes = tmp_path / "routes.json"
            gateway = started(write_routes(routes, "v1", default=(100, [old.endpoint], False)))
            in_flight = asyncio.ensure_future(gateway.answer(b"POST", PREDICT, FORWARDED, b"[1]"))
            await asyncio.sleep(0.05)
            write_routes(routes, "v2", default=(100, [new.endpoint], False))
            gateway.reload()
            assert (await gateway.answer(b"POST", PREDICT, FORWARDED, b"[2]"))[:2] == (200, b"[2]")
            assert (await in_flight)[:2] == (200, b"[1]")
            await old.wait_closed()
            assert list(gateway.pools) == [new.endpoint]

    run(scenario())


@pytest.mark.parametrize(("method", "path", "status", "error"), [
    (b"POST", "/v1/models/churn/predict", 404, "this gateway serves model iris, not churn"),
    (b"POST", "/v1/models/iris/canary/predict", 404, "no variation 'canary'; this deployment has: default"),
    (b"GET", PREDICT, 405, f"{PREDICT} answers POST only, not GET"),
    (b"POST", "/predict", 404, "no route /predict; POST /v1/models/<model_id>/predict"),
])
def test_requests_the_gateway_cannot_route_get_a_json_error(sockets, tmp_path, method, path, status, error):
    async def scenario() -> None:
        async with FakeReplica(sockets / "a.sock") as a:
            gateway = started(write_routes(tmp_path / "routes.json", "v1", default=(100, [a.endpoint], False)))
            answer = await gateway.answer(method, path, FORWARDED, b"[1]")
            assert (answer[0], orjson.loads(answer[1])) == (status, {"error": error, "status": status})
            assert a.requests == []

    run(scenario())
