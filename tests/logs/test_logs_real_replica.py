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
from deployments.models import Deployment, RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_CLASSIFIER, IRIS_ROW
from tests.fixtures.runtime import ready_build
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)
PRINTS = IRIS_CLASSIFIER.replace(
    "        return pd.DataFrame(data=self._model.predict(df), columns=['species'])",
    "        print(f'scoring {len(df)} rows')\n"
    "        return pd.DataFrame(data=self._model.predict(df), columns=['species'])")
ROW = re.compile(r'<div class="log-line[^"]*" data-key="[^"]+"[^>]*>([^<]*)</div>')


@pytest.fixture
def printing_deployment(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    from deployments.models.instance_type import ensure_catalog

    assert PRINTS != IRIS_CLASSIFIER
    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model, PRINTS)), alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    yield rollout.deployment
    from deployments.backends.base import get_backend

    get_backend().delete(rollout.deployment)


def predict(deployment: Deployment, request_id: str) -> None:
    answer = httpx.post(deployment.predict_url, json=[IRIS_ROW], headers={"X-Request-Id": request_id}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == request_id


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

    async_to_sync(scenario)()
