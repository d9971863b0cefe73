"""The Logs socket against a real deployment: supervisord, the gateway and a model-server replica
whose model prints while it predicts. A request sent to the deployment shows up as its `request`
line and the model's print, both carrying the request id, on a socket filtered by that id."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from console.asgi import application
from deployments.logs import fanout
from deployments.models import Deployment
from tests.fixtures.builds import IRIS_ROW
from tests.logs.conftest import deployed_printing_model
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)
ROW = re.compile(r'<div class="log-line[^"]*" data-key="[^"]+"[^>]*>([^<]*)</div>')


@pytest.fixture
def printing_deployment(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    yield from deployed_printing_model(iris_model, alice)


def predict(deployment: Deployment, request_id: str) -> None:
    answer = httpx.post(deployment.predict_url, json=[IRIS_ROW], headers={"X-Request-Id": request_id}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == request_id


async def no_reader_left(deployment: Deployment) -> None:
    """Wait for the reader to see nobody watches and end, inside this event loop (not cut off when it closes)."""
    redis = fanout.client()
    try:
        deadline = time.monotonic() + 30
        while await fanout.reader_token(redis, deployment.pk) is not None:
            assert time.monotonic() < deadline, "the reader kept its lease with nobody watching"
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()


async def texts(socket: WebsocketCommunicator, timeout: float) -> list[str]:
    """The lines of the socket's next message ([] when none came in `timeout`; receive_from's own timeout
    would cancel the consumer)."""
    deadline = time.monotonic() + timeout
    while await socket.receive_nothing(timeout=0.1, interval=0.02):
        if time.monotonic() > deadline:
            return []
    return ROW.findall(await socket.receive_from(timeout=10))


def test_a_request_brings_its_request_line_and_the_models_print_to_a_socket_filtered_by_its_id(
        printing_deployment, bob):
    headers = session_headers(bob)
    deployment = printing_deployment
    wanted = f"req-{uuid.uuid4().hex[:12]}"

    async def scenario() -> None:
        everything = WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/logs/", headers=headers)
        one = WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/logs/?request_id={wanted}",
                                    headers=headers)
        assert (await everything.connect())[0]
        assert (await one.connect())[0]
        deadline = time.monotonic() + 60  # the reader follows from the files' end: warm up until it is live
        while not any("req=warm-" in line for line in await texts(everything, timeout=1)):
            assert time.monotonic() < deadline, "no line of the replica reached the socket within 60 s"
            await asyncio.to_thread(predict, deployment, f"warm-{uuid.uuid4().hex[:8]}")

        await asyncio.to_thread(predict, deployment, wanted)

        seen: list[str] = []
        deadline = time.monotonic() + 30
        while not (any(" request " in line for line in seen) and any("scoring 1 rows" in line for line in seen)):
            assert time.monotonic() < deadline, seen
            seen += await texts(one, timeout=1)
        assert all(line.endswith(f"req={wanted}") for line in seen), seen
        request_line = next(line for line in seen if " request " in line)
        assert re.search(r"  INFO   default-[0-9a-f]{8}-0  request  POST /v1/predict 200 [\d.]+ ms  req=", request_line)
        await everything.disconnect()
        await one.disconnect()
        await no_reader_left(deployment)

    async_to_sync(scenario)()
