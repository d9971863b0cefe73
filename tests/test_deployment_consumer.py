"""Live deployment events at `/ws/deployments/<pk>/events/`, through the real ASGI app and channels-redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Deployment, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.sockets import connect_and_leave
from tests.fixtures.stand_in_runtime import one_replica_crashed
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)


def events_socket(deployment: Deployment, headers: list[tuple[bytes, bytes]],
                  tab: str = "events") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/events/?tab={tab}", headers=headers)


async def connected(socket: WebsocketCommunicator) -> str:
    """Connect; return what every (re)connect first gets: the tab's fragments as they are now."""
    assert (await socket.connect())[0]
    return await socket.receive_from(timeout=10)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))


crash = one_replica_crashed  # what the health check sees when a replica crashes


def test_an_anonymous_visitor_is_refused(deployment):
    headers_none = session_headers(None)

    async def scenario() -> None:
        assert await connect_and_leave(events_socket(deployment, headers_none)) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_outsider_is_refused(deployment, other_project, charlie):
    headers_charlie = session_headers(charlie)

    async def scenario() -> None:
        assert await connect_and_leave(events_socket(deployment, headers_charlie)) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_unknown_deployment_is_refused(alice):
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/deployments/99999/events/", headers=headers_alice)
        assert await connect_and_leave(socket) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_each_connect_starts_with_the_tab_as_it_is_now(deployment, bob):
    headers_bob = session_headers(bob)
    crash(deployment)  # happened while nobody (or a dropped socket) was listening

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob)
        html = await connected(socket)
        await socket.disconnect()

        assert 'id="deployment-status" class="badge degraded" data-status="degraded" hx-swap-oob="true"' in html
        assert 'id="event-list" class="events" hx-swap-oob="true"' in html
        assert "crashed: exited with code 3" in html

    run(scenario)


def test_a_viewer_receives_the_event_row_status_badge_and_replica_counts(deployment, bob):
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob)
        await connected(socket)
        await sync_to_async(crash)(deployment)

        received = [await socket.receive_from(timeout=10) for _ in range(3)]
        await socket.disconnect()

        event_html = next(html for html in received if 'data-kind="replica_crashed"' in html)
        assert '<div hx-swap-oob="afterbegin:#event-list">' in event_html
        assert "exited with code 3" in event_html
        assert ('<span id="deployment-status" class="badge degraded" data-status="degraded" '
                'hx-swap-oob="true">Degraded</span>') in event_html
        assert 'id="replica-counts" class="muted" hx-swap-oob="true"' in event_html
        assert "1/2 replicas ready" in event_html
        assert "Roll back" not in event_html  # a viewer gets no buttons

    run(scenario)


def test_a_tab_gets_only_the_fragments_it_shows(deployment, bob):
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        overview = events_socket(deployment, headers_bob, tab="overview")
        configuration = events_socket(deployment, headers_bob, tab="configuration")
        first = {"overview": await connected(overview), "configuration": await connected(configuration)}
        await sync_to_async(crash)(deployment)
        later = {"overview": await overview.receive_from(timeout=10),
                 "configuration": await configuration.receive_from(timeout=10)}
        await overview.disconnect()
        await configuration.disconnect()

        for html in (first["overview"], later["overview"]):
            assert 'id="replicas"' in html
            assert 'id="endpoint"' in html
            assert "#event-list" not in html
            assert 'id="rollouts"' not in html
        for html in (first["configuration"], later["configuration"]):
            assert 'id="deployment-status"' in html
            assert 'id="replicas"' not in html
            assert "event-list" not in html
            assert 'id="rollouts"' not in html

    run(scenario)


def test_a_deployer_gets_the_action_buttons_in_live_fragments(iris_model, alice):
    build = a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build), revisions=2)
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        events_tab, overview = events_socket(deployment, headers_alice), events_socket(deployment, headers_alice,
                                                                                     tab="overview")
        assert "Roll back to 1" in await connected(events_tab)
        assert 'name="replicas"' in await connected(overview)
        await events_tab.disconnect()
        await overview.disconnect()

    run(scenario)


def test_viewers_of_another_deployment_get_nothing(deployment, iris_model, alice):
    other_model = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    other = serving_deployment(other_model, variation(a_ready_build(other_model)))
    headers_alice = session_headers(alice)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_alice)
        await connected(socket)
        await sync_to_async(crash)(other)

        assert await socket.receive_nothing(timeout=1)

        await sync_to_async(crash)(deployment)  # alive: its own deployment's events arrive
        assert "exited with code 3" in await socket.receive_from(timeout=10)
        await socket.disconnect()

    run(scenario)


def test_a_member_removed_from_the_project_gets_nothing_more_and_is_closed(deployment, bob):
    from deployments.models import Membership
    from deployments.projects.memberships import remove_member

    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob)
        await connected(socket)
        membership = await sync_to_async(Membership.objects.get)(project=deployment.model.project, user=bob)
        await sync_to_async(remove_member)(membership)
        await sync_to_async(crash)(deployment)

        closed = await socket.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
        assert await socket.receive_nothing(timeout=1)

    run(scenario)
