"""New metric points reach an open Overview over the deployment's live socket: monitoring.tasks.announce_points
(called by the scrape task once it stored points) sends a marker that makes the charts fetch them."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Deployment, Model
from monitoring.tasks import announce_points
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.test_build_consumer import session_headers
from tests.test_deployment_consumer import connected, crash, events_socket, run

pytestmark = pytest.mark.django_db(transaction=True)
STAMP = '<span id="metrics-stamp" hidden hx-swap-oob="true"></span>'


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))


def test_a_viewer_on_the_overview_is_told_of_new_points(deployment, bob):
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob, tab="overview")
        await connected(socket)
        await sync_to_async(announce_points)(deployment.pk)
        assert await socket.receive_from(timeout=10) == STAMP
        await socket.disconnect()

    run(scenario)


def test_other_tabs_and_other_deployments_points_send_nothing(deployment, iris_model, bob):
    churn = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    other = serving_deployment(churn, variation(a_ready_build(churn)))
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        overview = events_socket(deployment, headers_bob, tab="overview")
        events = events_socket(deployment, headers_bob, tab="events")
        await connected(overview)
        await connected(events)
        await sync_to_async(announce_points)(other.pk)  # not this deployment's
        await sync_to_async(announce_points)(deployment.pk)  # not for the events tab
        await sync_to_async(crash)(deployment)  # then something both tabs show
        assert await overview.receive_from(timeout=10) == STAMP  # its own deployment's, once
        assert STAMP not in await overview.receive_from(timeout=10)
        assert STAMP not in await events.receive_from(timeout=10)
        await overview.disconnect()
        await events.disconnect()

    run(scenario)


def test_a_member_removed_from_the_project_is_closed_instead_of_told(deployment, bob):
    from deployments.models import Membership
    from deployments.projects.memberships import remove_member

    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob, tab="overview")
        await connected(socket)
        membership = await sync_to_async(Membership.objects.get)(project=deployment.model.project, user=bob)
        await sync_to_async(remove_member)(membership)
        await sync_to_async(announce_points)(deployment.pk)
        assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}

    run(scenario)


def test_the_scrape_task_tells_the_deployments_it_stored_points_for(deployment, bob, monkeypatch):
    from django.utils import timezone

    import monitoring.collect
    from monitoring.interval import IntervalStats
    from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
    from monitoring.tasks import scrape_metrics

    def collect(scraped: Deployment, now: object, min_interval_s: object = None) -> list[MetricPoint]:
        """A scrape that stored one point (the real one needs running replicas: tests/monitoring)."""
        point = MetricPoint.of(scraped.pk, WHOLE_DEPLOYMENT, timezone.now(), 10.0, IntervalStats(requests=5),
                               (2, 2), 10)
        point.save()
        return [point]

    monkeypatch.setattr(monitoring.collect, "collect", collect)
    headers_bob = session_headers(bob)

    async def scenario() -> None:
        socket = events_socket(deployment, headers_bob, tab="overview")
        await connected(socket)
        assert await sync_to_async(scrape_metrics)() >= 1
        assert await socket.receive_from(timeout=10) == STAMP
        await socket.disconnect()

    run(scenario)
