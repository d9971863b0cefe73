"""Live build status at `/ws/models/<model_id>/builds/`, through the real ASGI app and channels-redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User

from console.asgi import application
from deployments.builds.live import publish_build
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Build, BuildStatus, Model
from tests.fixtures.people import logged_in
from tests.fixtures.sockets import connect_and_leave

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_headers(user: User | None) -> list[tuple[bytes, bytes]]:
    """What a browser sends on the WebSocket handshake: its origin and, when logged in, the session cookie."""
    if user is None:
        return [ORIGIN]
    cookie = logged_in(user).cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]


def builds_socket(model_id: str, headers: list[tuple[bytes, bytes]], page: str = "list") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/models/{model_id}/builds/?page={page}", headers=headers)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def a_build(model: Model) -> Build:
    return Build.objects.create(model=model, status=BuildStatus.BUILDING, source_name="iris.tar.gz")


def test_an_anonymous_visitor_is_refused(iris_model):
    anonymous = session_headers(None)

    async def scenario() -> None:
        connected, code = await connect_and_leave(builds_socket("iris", anonymous))
        assert (connected, code) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_an_outsider_is_refused(iris_model, other_project, charlie):
    outsider = session_headers(charlie)

    async def scenario() -> None:
        connected, code = await connect_and_leave(builds_socket("iris", outsider))
        assert (connected, code) == (False, CLOSE_FORBIDDEN)

    run(scenario)


def test_a_connection_from_a_foreign_origin_is_refused(iris_model, alice):
    headers = [(b"origin", b"https://evil.example"), *session_headers(alice)[1:]]

    async def scenario() -> None:
        connected, _ = await connect_and_leave(builds_socket("iris", headers))
        assert not connected

    run(scenario)


def test_a_viewer_receives_the_build_row_when_the_build_changes(iris_model, bob):
    build = a_build(iris_model)
    viewer = session_headers(bob)

    async def scenario() -> None:
        socket = builds_socket("iris", viewer)
        connected, _ = await socket.connect()
        assert connected
        build.status, build.error = BuildStatus.FAILED, "predict raised ValueError"
        await sync_to_async(build.save)()
        await sync_to_async(publish_build)(build)

        html = await socket.receive_from(timeout=5)
        await socket.disconnect()

        assert f'<tr id="build-{build.build_id}" hx-swap-oob="true" data-status="failed">' in html
        assert "build-body" not in html  # the list page has no build body to swap
        assert "predict raised ValueError" in html

    run(scenario)


def test_a_build_page_gets_only_its_own_builds_body(iris_model, bob):
    build, other = a_build(iris_model), a_build(iris_model)
    viewer = session_headers(bob)

    async def scenario() -> None:
        socket = builds_socket("iris", viewer, page=f"detail&build={build.build_id}")
        assert (await socket.connect())[0]
        await sync_to_async(publish_build)(other)
        assert await socket.receive_nothing(timeout=1)

        build.status, build.error = BuildStatus.FAILED, "predict raised ValueError"
        await sync_to_async(build.save)()
        await sync_to_async(publish_build)(build)
        html = await socket.receive_from(timeout=5)
        await socket.disconnect()

        assert f'id="build-body-{build.build_id}" hx-swap-oob="true"' in html
        assert "<tr" not in html
        assert "predict raised ValueError" in html

    run(scenario)


def test_viewers_of_another_model_get_nothing(iris_model, alice):
    other = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    others_build = a_build(other)
    iris_build = a_build(iris_model)
    admin = session_headers(alice)

    async def scenario() -> None:
        socket = builds_socket("iris", admin)
        assert (await socket.connect())[0]
        await sync_to_async(publish_build)(others_build)

        assert await socket.receive_nothing(timeout=1)

        await sync_to_async(publish_build)(iris_build)  # the socket is alive: its own model's builds arrive
        assert str(iris_build.build_id) in await socket.receive_from(timeout=5)
        await socket.disconnect()

    run(scenario)


def test_every_viewer_of_the_model_receives_the_change(iris_model, alice, bob):
    build = a_build(iris_model)
    members = [session_headers(alice), session_headers(bob)]

    async def scenario() -> None:
        sockets = [builds_socket("iris", headers) for headers in members]
        for socket in sockets:
            assert (await socket.connect())[0]
        await sync_to_async(publish_build)(build)

        for socket in sockets:
            assert f'id="build-{build.build_id}"' in await socket.receive_from(timeout=5)
            await socket.disconnect()

    run(scenario)


def test_a_member_removed_from_the_project_gets_no_more_builds_and_is_closed(iris_model, bob):
    from deployments.consumers import CLOSE_FORBIDDEN
    from deployments.models import Membership
    from deployments.projects.memberships import remove_member

    build = a_build(iris_model)
    viewer = session_headers(bob)

    async def scenario() -> None:
        socket = builds_socket("iris", viewer)
        connected, _ = await socket.connect()
        assert connected
        membership = await sync_to_async(Membership.objects.get)(project=iris_model.project, user=bob)
        await sync_to_async(remove_member)(membership)
        build.status, build.error = BuildStatus.FAILED, "predict raised ValueError"
        await sync_to_async(build.save)()
        await sync_to_async(publish_build)(build)

        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
        assert await socket.receive_nothing(timeout=1)

    run(scenario)
