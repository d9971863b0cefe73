"""Live deployment events at `/ws/deployments/<pk>/events/`, through the real ASGI app and channels-redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from console.asgi import application
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.events import publish_deployment, record_event
from deployments.models import Deployment, DeploymentStatus, EventKind, EventLevel, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)


def events_socket(deployment: Deployment, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/events/", headers=headers)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))


def crash(deployment: Deployment) -> None:
    """What the health check does when a replica crashes: store the event, mark the deployment, publish."""
    with transaction.atomic():
        deployment.set_status(DeploymentStatus.DEGRADED, "Not ready — default-0: exited with code 3")
        record_event(deployment, EventKind.REPLICA_CRASHED, "Replica default-0 crashed: exited with code 3.",
                     level=EventLevel.ERROR, variation="default", replica="default-0")
        publish_deployment(deployment)


def test_an_anonymous_visitor_is_refused(deployment):
    headers_none = session_headers(None)

    async def scenario() -> None:
        assert await events_socket(deployment, headers_none).connect() == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_outsider_is_refused(deployment, other_project, charlie):
    headers_charlie = session_headers(charlie)

    async def scenario() -> None:
        assert await events_socket(deployment, headers_charlie).connect() == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_unknown_deployment_is_refused(alice):
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/deployments/99999/events/", headers=headers_alice)
        assert await socket.connect() == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_a_viewer_receives_the_event_row_status_badge_and_replica_counts(deployment, bob):
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob)
        assert (await socket.connect())[0]
        await sync_to_async(crash)(deployment)

        first = await socket.receive_from(timeout=10)
        second = await socket.receive_from(timeout=10)
        await socket.disconnect()

        event_html = first if "afterbegin:#event-list" in first else second
        assert '<div hx-swap-oob="afterbegin:#event-list">' in event_html
        assert 'data-kind="replica_crashed"' in event_html and "exited with code 3" in event_html
        assert ('<span id="deployment-status" class="badge degraded" data-status="degraded" '
                'hx-swap-oob="true">Degraded</span>') in event_html
        assert 'id="replica-counts" class="muted" hx-swap-oob="true"' in event_html
        assert "/2 replicas ready" in event_html
        assert "Roll back" not in event_html  # a viewer gets no buttons

    run(scenario)


def test_a_deployer_gets_the_action_buttons_in_live_fragments(iris_model, alice):
    build = a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build), revisions=2)
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_alice)
        assert (await socket.connect())[0]
        await sync_to_async(crash)(deployment)

        html = await socket.receive_from(timeout=10)
        await socket.disconnect()
        assert "Roll back to 1" in html and 'name="replicas"' in html

    run(scenario)


def test_viewers_of_another_deployment_get_nothing(deployment, iris_model, alice):
    other_model = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    other = serving_deployment(other_model, variation(a_ready_build(other_model)))
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_alice)
        assert (await socket.connect())[0]
        await sync_to_async(crash)(other)

        assert await socket.receive_nothing(timeout=1)

        await sync_to_async(crash)(deployment)  # alive: its own deployment's events arrive
        assert "exited with code 3" in await socket.receive_from(timeout=10)
        await socket.disconnect()

    run(scenario)
