"""The message at the top that announces a rollout (undeploy, rollback, scale) follows it: the live socket
rewrites it when the rollout ends, so "Undeploy started" never outlives the undeploy."""

from __future__ import annotations

import re
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from console.asgi import application
from deployments.models import Deployment, Model, Rollout, RolloutStatus
from deployments.rollouts.events import publish_deployment
from deployments.rollouts.spec import DeploySpec
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.test_build_consumer import session_headers
from tests.test_deployment_consumer import connected, run

# The socket tests need committed rows (the consumer reads them on its own thread); the others
# stay in a test transaction, so the rollouts they request are never queued for a worker to run.
SOCKET = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=2)


def socket_for(deployment: Deployment, headers: list[tuple[bytes, bytes]], rollout: Rollout) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/events/?tab=overview"
                                              f"&notice={rollout.pk}", headers=headers)


def ended(rollout: Rollout, status: str, reason: str = "") -> None:
    """What the rollout engine does when it is done: store the end, tell the page."""
    rollout.finish(status, reason)
    publish_deployment(rollout.deployment)


async def message_with(socket: WebsocketCommunicator, text: str, timeout_s: float = 30) -> str:
    """The first message that holds `text`: a worker picking up the queued rollout may publish
    its own updates before the one a test waits for."""
    deadline = time.monotonic() + timeout_s
    while True:
        message = await socket.receive_from(timeout=max(0.1, deadline - time.monotonic()))
        if text in message:
            return str(message)


def test_undeploy_says_it_started_and_the_page_asks_the_socket_to_follow_it(deployment, alice):
    html = logged_in(alice).post(f"/deployments/{deployment.pk}/undeploy/", {"confirm": "iris"},
                                 follow=True).content.decode()

    rollout = deployment.rollouts.get(revision=3)
    assert (f'<li class="work rollout-{rollout.pk} info" id="notice-rollout-{rollout.pk}" data-work="running">'
            "Undeploy started: stopping every replica and the gateway.</li>") in html
    assert re.search(rf'ws-connect="[^"]*&amp;notice={rollout.pk}"', html)


def test_rollback_and_scale_say_what_they_started(deployment, alice):
    client = logged_in(alice)

    rollback = client.post(f"/deployments/{deployment.pk}/rollback/", {"revision": "1"}, follow=True)
    Rollout.objects.filter(revision=3, deployment=deployment).update(status=RolloutStatus.SUCCEEDED)
    scale = client.post(f"/deployments/{deployment.pk}/scale/", {"variation": "default", "replicas": "2"},
                        follow=True)

    assert "Rolling back to revision 1 (as revision 3)." in rollback.content.decode()
    assert "Scaling: revision 4 is under way; running replicas keep serving." in scale.content.decode()


def test_a_refused_action_flashes_only_its_error(deployment, alice):
    html = logged_in(alice).post(f"/deployments/{deployment.pk}/rollback/", {"revision": "2"},
                                 follow=True).content.decode()

    assert "Revision 2 is already serving." in html
    assert "notice-rollout-" not in html


@SOCKET
def test_the_message_becomes_undeployed_when_the_undeploy_ends(deployment, alice):
    rollout = Rollout.objects.create(deployment=deployment, revision=3, action="undeploy", spec=DeploySpec().to_json(),
                                     status=RolloutStatus.IN_PROGRESS)  # as the undeploy form requests it
    headers = session_headers(alice)

    async def scenario() -> None:
        socket = socket_for(deployment, headers, rollout)
        first = await connected(socket)
        await sync_to_async(ended)(rollout, RolloutStatus.SUCCEEDED)
        done = await message_with(socket, 'data-work="done"')
        await socket.disconnect()

        assert (f'<li id="notice-rollout-{rollout.pk}" class="work info" data-work="running" hx-swap-oob="true">'
                "Undeploy started: stopping every replica and the gateway.</li>") in first
        assert (f'<li id="notice-rollout-{rollout.pk}" class="work success" data-work="done" hx-swap-oob="true">'
                "Undeployed: every replica and the gateway stopped.</li>") in done

    run(scenario)


@SOCKET
def test_a_failed_rollout_turns_its_message_into_the_reason_escaped(deployment, bob):
    rollout = Rollout.objects.create(deployment=deployment, revision=3, action="rollback", source_revision=1,
                                     spec=deployment.current_rollout.spec, status=RolloutStatus.IN_PROGRESS)
    headers = session_headers(bob)

    async def scenario() -> None:
        socket = socket_for(deployment, headers, rollout)
        await connected(socket)
        await sync_to_async(ended)(rollout, RolloutStatus.FAILED, "Replica <script>x</script> crashed.")
        failed = await message_with(socket, 'data-work="done"')
        await socket.disconnect()

        assert (f'<li id="notice-rollout-{rollout.pk}" class="work error" data-work="done" hx-swap-oob="true">'
                "Rollback (revision 3) failed: "
                "Replica &lt;script&gt;x&lt;/script&gt; crashed.</li>") in failed

    run(scenario)


def test_a_notice_of_another_deployments_rollout_is_not_rendered(deployment, iris_model, other_project, charlie,
                                                                 alice):
    theirs_model = Model.objects.create(project=other_project, model_id="ltv", name="LTV")
    theirs = serving_deployment(theirs_model, variation(a_ready_build(theirs_model)))
    their_rollout = theirs.rollouts.get()
    headers = session_headers(alice)

    async def scenario() -> None:
        socket = socket_for(deployment, headers, their_rollout)
        first = await connected(socket)
        await socket.disconnect()

        assert "notice-rollout-" not in first

    run(scenario)
