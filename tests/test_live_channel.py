"""An idle live socket stays open: a real WebSocket over TCP to uvicorn, channels-redis and an embedded-kind Redis.

channels-redis waits for a socket's next message with a blocking BZPOPMIN of 5 s; redis-py's
default socket timeout is also 5 s, so without the settings' longer socket timeout the read
times out just as the server answers and the consumer dies with every idle 5 s.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from deployments.models import Deployment, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.fixtures.stand_in_runtime import one_replica_crashed

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_S = 30  # six of channels-redis's 5 s blocking reads, and longer than uvicorn's 20 s ping interval


def events_socket_url(base_url: str, deployment: Deployment) -> str:
    return base_url.replace("http://", "ws://") + f"/ws/deployments/{deployment.pk}/events/?tab=events"


def session_cookie(user: User) -> str:
    return f"{settings.SESSION_COOKIE_NAME}={logged_in(user).cookies[settings.SESSION_COOKIE_NAME].value}"


def test_an_idle_socket_stays_open_and_still_receives_events(console_on_live_redis, iris_model: Model, bob):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)))

    with connect(events_socket_url(console_on_live_redis.url, deployment), origin=Origin("http://127.0.0.1"),
                 additional_headers={"Cookie": session_cookie(bob)}, open_timeout=30) as socket:
        try:
            stay_idle(socket, IDLE_S)
        except ConnectionClosed as closed:
            pytest.fail(f"the console closed an idle socket: {closed}\n{console_on_live_redis.log()[-3000:]}")

        one_replica_crashed(deployment)  # the observer stores it and publishes, as the health check does
        event_frame = next(frame for frame in iter(lambda: socket.recv(timeout=15), None)
                           if 'data-kind="replica_crashed"' in frame)

    assert "exited with code 3" in event_frame
    assert 'data-status="degraded"' in event_frame
    assert "Exception in ASGI application" not in console_on_live_redis.log()


def stay_idle(socket: ClientConnection, seconds: float) -> None:
    """Keep the socket open for `seconds`, reading what the console sends on its own (the page's current parts)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            assert "replica_crashed" not in socket.recv(timeout=left)
        except TimeoutError:
            return
