"""The events tab's live socket keeps to the viewer's filters and page (real ASGI app and channels-redis)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from deployments.models import Deployment, EventKind, EventLevel, Model
from deployments.rollouts.events import record_event
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.test_build_consumer import session_headers
from tests.test_deployment_consumer import connected, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def socket_for(deployment: Deployment, headers: list[tuple[bytes, bytes]], query: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/events/?tab=events&{query}",
                                 headers=headers)


def test_a_new_event_the_filter_leaves_out_is_not_added_and_one_it_keeps_is(deployment, bob):
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = socket_for(deployment, headers, "level=error")
        first = await connected(socket)
        await sync_to_async(record_event)(deployment, EventKind.SCALED, "Routine.", level=EventLevel.INFO)
        routine = await socket.receive_from(timeout=10)
        await sync_to_async(record_event)(deployment, EventKind.FAILED, "It broke.", level=EventLevel.ERROR)
        broke = await socket.receive_from(timeout=10)
        await socket.disconnect()

        assert "No event matches these filters." in first
        assert "Routine." not in routine
        assert "afterbegin:#event-list" not in routine
        assert '<div hx-swap-oob="afterbegin:#event-list">' in broke
        assert "It broke." in broke
        assert '<p id="no-events" hx-swap-oob="delete"></p>' in broke

    run(scenario)


def test_a_viewer_on_an_older_page_gets_no_new_rows(deployment, bob):
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = socket_for(deployment, headers, "page=2")
        await connected(socket)
        await sync_to_async(record_event)(deployment, EventKind.SCALED, "Newest.")
        update = await socket.receive_from(timeout=10)
        await socket.disconnect()

        assert "Newest." not in update
        assert 'id="deployment-status"' in update  # the header still follows the deployment

    run(scenario)
