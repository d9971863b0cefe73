"""The deployment page (Overview, Configuration, Rollouts & events) and its scale/rollback/undeploy actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.backends.base import ReplicaState
from deployments.models import Deployment, DeploymentStatus, Model, Rollout, RolloutAction, RolloutStatus
from deployments.rollouts.requests import request_rollout
from deployments.rollouts.spec import DeploySpec, validate_spec
from tests.fixtures.deployments import a_ready_build, an_active_rollout, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.fixtures.stand_in_runtime import READY, observed

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(iris_model: Model, alice) -> Deployment:
    build = a_ready_build(iris_model)
    return serving_deployment(iris_model, variation(build, replicas=2, env=[
        {"name": "API_URL", "value": "https://features.internal"},
        {"name": "DB_PASSWORD", "value": "hunter2-secret", "secret": True}]), revisions=2, user=alice)


def pages(deployment: Deployment) -> list[str]:
    base = f"/deployments/{deployment.pk}/"
    return [base, f"{base}configuration/", f"{base}events/", "/models/iris/deployments/"]


def actions(deployment: Deployment) -> dict[str, dict[str, str]]:
    base = f"/deployments/{deployment.pk}/"
    return {f"{base}scale/": {"variation": "default", "replicas": "3"}, f"{base}rollback/": {"revision": "1"},
            f"{base}undeploy/": {"confirm": "iris"}}


# --- who may see and do what ------------------------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_log_in(deployment):
    for url in pages(deployment):
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url
    for url, data in actions(deployment).items():
        assert Client().post(url, data).status_code == 302
    assert deployment.rollouts.count() == 2


def test_an_outsider_gets_404_everywhere_and_changes_nothing(deployment, other_project, charlie):
    client = logged_in(charlie)

    for url in pages(deployment):
        assert client.get(url).status_code == 404, url
    for url, data in actions(deployment).items():
        assert client.post(url, data).status_code == 404, url
    assert deployment.rollouts.count() == 2


def test_a_viewer_sees_every_tab_but_no_buttons_and_may_not_act(deployment, bob):
    client = logged_in(bob)

    for url in pages(deployment):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert "Roll back to" not in html
        assert "Undeploy" not in html
        assert 'name="replicas"' not in html
    for url, data in actions(deployment).items():
        assert client.post(url, data).status_code == 403, url
    assert deployment.rollouts.count() == 2


def test_an_admin_gets_the_buttons(deployment, alice):
    client = logged_in(alice)

    overview = client.get(f"/deployments/{deployment.pk}/").content.decode()
    events = client.get(f"/deployments/{deployment.pk}/events/").content.decode()

    assert 'name="replicas" min="1" max="100" value="2"' in overview
    assert "Undeploy" in overview
    assert "Roll back to 1" in events
    assert "Roll back to 2" not in events


# --- what the tabs say ------------------------------------------------------------------------

def test_the_overview_shows_the_endpoint_with_curl_and_python_snippets(deployment, alice):
    html = logged_in(alice).get(f"/deployments/{deployment.pk}/").content.decode()

    url = "http://127.0.0.1:18080/v1/models/iris/predict"
    assert f'<span class="mono" id="predict-url">{url}</span>' in html
    assert f"curl -X POST {url}" in html
    assert "&quot;sepal_length&quot;: 5.1" in html
    assert "RealTimeClient(model_id=\"iris\")" in html
    assert 'ws-connect="/ws/deployments/' in html


def test_the_overview_is_honest_when_a_replica_crash_loops(deployment, alice):
    crashing = "The replica exited with code 3: the model could not be loaded (KeyError: 'petal_width')."
    observed(deployment, [READY, (ReplicaState.CRASHED, crashing)])

    html = logged_in(alice).get(f"/deployments/{deployment.pk}/").content.decode()

    assert '<span id="deployment-status" class="badge degraded" data-status="degraded">Degraded</span>' in html
    assert ">Running<" not in html
    assert "1/2 replicas ready" in html
    assert "1 crashing" in html
    assert "the model could not be loaded (KeyError: &#x27;petal_width&#x27;)" in html
    assert "Last log lines" in html


def test_pages_read_stored_state_and_say_how_old_it_is_when_the_runtime_is_down(deployment, alice):
    observed(deployment, [READY, READY])
    forty_s_ago = (timezone.now() - timedelta(seconds=40)).isoformat()
    Deployment.objects.filter(pk=deployment.pk).update(
        observed={**Deployment.objects.get(pk=deployment.pk).observed, "at": forty_s_ago})
    observed(deployment, None)  # the runtime stops answering

    html = logged_in(alice).get(f"/deployments/{deployment.pk}/").content.decode()

    assert "Last checked 40 s ago; the runtime does not answer (supervisord does not answer" in html
    assert 'data-status="running"' in html
    assert "2/2 replicas ready" in html
    assert deployment.events.filter(message__startswith="The runtime does not answer").count() == 1


def test_configuration_masks_secrets(deployment, alice):
    html = logged_in(alice).get(f"/deployments/{deployment.pk}/configuration/").content.decode()

    assert "API_URL=https://features.internal" in html
    assert "DB_PASSWORD=••••••" in html
    assert "hunter2" not in html
    assert "small — 1 CPU, 2 GiB" in html
    assert "Revision 2" in html


def test_configuration_names_the_build_and_calls_variables_and_stage_by_their_names(iris_model, alice):
    build = a_ready_build(iris_model, label="v7", tags=["canary"])
    deployment = serving_deployment(iris_model, variation(build, env=[{"name": "API_URL", "value": "x"}]), user=alice)

    html = logged_in(alice).get(f"/deployments/{deployment.pk}/configuration/").content.decode()

    assert f'title="{build.build_id}">{build.short_id}</a>' in html
    assert '<strong class="build-label">v7</strong>' in html
    assert "<dt>Environment variables</dt>" in html
    assert "· Stage: production</span></h1>" in html


def test_configuration_says_whether_outbound_network_is_allowed(deployment, iris_model, alice):
    client = logged_in(alice)
    blocked = client.get(f"/deployments/{deployment.pk}/configuration/").content.decode()
    other = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    open_one = serving_deployment(other, variation(a_ready_build(other), outbound_network=True))

    allowed = client.get(f"/deployments/{open_one.pk}/configuration/").content.decode()

    assert "<dt>Outbound network</dt><dd>blocked</dd>" in blocked
    assert "<dt>Outbound network</dt><dd>allowed</dd>" in allowed


def test_the_events_tab_lists_revisions_and_events(deployment, alice):
    html = logged_in(alice).get(f"/deployments/{deployment.pk}/events/").content.decode()

    assert 'id="rollout-2" data-status="succeeded"' in html
    assert 'id="rollout-1" data-status="rolled_back"' in html
    assert "Revision 2 serves." in html
    assert 'id="event-list"' in html


def test_the_model_deployments_tab_lists_the_deployment(deployment, bob):
    html = logged_in(bob).get("/models/iris/deployments/").content.decode()

    assert f'href="/deployments/{deployment.pk}/">production</a>' in html
    assert "http://127.0.0.1:18080/v1/models/iris/predict" in html


# --- actions ----------------------------------------------------------------------------------

def test_scaling_queues_a_scale_rollout(deployment, alice):
    response = logged_in(alice).post(f"/deployments/{deployment.pk}/scale/", {"variation": "default",
                                                                               "replicas": "3"}, follow=True)

    rollout = deployment.rollouts.get(revision=3)
    assert rollout.action == RolloutAction.SCALE
    assert DeploySpec.from_json(rollout.spec).variations[0].replicas == 3
    html = response.content.decode()
    assert 'data-status="deploying"' in html
    assert "Revision 3 (scale) is queued" in html
    assert 'name="replicas" min="1" max="100" value="3"' in html  # the box keeps what was asked for


@pytest.mark.parametrize("replicas", ["0", "101", "lots", "2"])
def test_a_bad_scale_says_why_and_writes_nothing(deployment, alice, replicas):
    response = logged_in(alice).post(f"/deployments/{deployment.pk}/scale/",
                                     {"variation": "default", "replicas": replicas}, follow=True)

    html = response.content.decode()
    assert "from 1 to 100" in html or "already runs 2 replica(s)" in html
    assert deployment.rollouts.count() == 2


def test_scaling_while_a_rollout_runs_is_refused_with_a_clear_message(deployment, alice):
    an_active_rollout(deployment)

    response = logged_in(alice).post(f"/deployments/{deployment.pk}/scale/",
                                     {"variation": "default", "replicas": "3"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/deployments/{deployment.pk}/"
    assert deployment.rollouts.count() == 3


def test_the_conflict_message_reaches_the_page(deployment, alice):
    an_active_rollout(deployment)
    client = logged_in(alice)

    page = client.post(f"/deployments/{deployment.pk}/scale/", {"variation": "default", "replicas": "3"},
                       follow=True).content.decode()

    assert "Revision 3 (deploy) is still in progress; wait until it finishes, then try again." in page
    assert "serving: 2/2 replicas ready · revision 3: 2 of 2 ready" in page


def test_rollback_queues_the_earlier_revision(deployment, alice):
    response = logged_in(alice).post(f"/deployments/{deployment.pk}/rollback/", {"revision": "1"}, follow=True)

    rollout = deployment.rollouts.get(revision=3)
    assert rollout.action == RolloutAction.ROLLBACK
    assert rollout.source_revision == 1
    assert response.redirect_chain == [(f"/deployments/{deployment.pk}/events/", 302)]


def test_roll_back_first_shows_what_would_change_and_changes_nothing_until_confirmed(iris_model, alice):
    old, new = a_ready_build(iris_model, label="v1"), a_ready_build(iris_model, label="v2")
    deployment = serving_deployment(iris_model, variation(old, replicas=1))
    request_rollout(deployment, validate_spec(iris_model, {"variations": [variation(new, replicas=3)]}), alice)
    Rollout.objects.filter(deployment=deployment, revision=2).update(status=RolloutStatus.SUCCEEDED)
    Rollout.objects.filter(deployment=deployment, revision=1).update(status=RolloutStatus.ROLLED_BACK)
    Deployment.objects.filter(pk=deployment.pk).update(current_rollout=deployment.rollouts.get(revision=2))
    client = logged_in(alice)

    events = client.get(f"/deployments/{deployment.pk}/events/").content.decode()
    page = client.get(f"/deployments/{deployment.pk}/rollback/?revision=1").content.decode()

    assert f'href="/deployments/{deployment.pk}/rollback/?revision=1">Roll back to 1</a>' in events
    assert "Changes compared with revision 2 (serving now)" in page
    assert re.search(r"<td>Replicas</td><td class=\"mono\">3</td><td class=\"mono\">1</td>", page)
    assert "v2 · <span class=\"mono\">" in page  # the builds, by name
    assert "v1 · <span class=\"mono\">" in page
    assert 'name="revision" value="1"' in page
    assert deployment.rollouts.count() == 2  # asking changes nothing


@pytest.mark.parametrize("revision", ["2", "9", "x", ""])
def test_roll_back_to_a_revision_that_cannot_serve_says_why_instead_of_confirming(deployment, alice, revision):
    response = logged_in(alice).get(f"/deployments/{deployment.pk}/rollback/?revision={revision}", follow=True)

    assert "can&#x27;t be rolled back to" in response.content.decode()
    assert 'id="rollback-confirm"' not in response.content.decode()


def test_only_deployers_see_what_a_rollback_would_change(deployment, bob, charlie, other_project):
    assert logged_in(bob).get(f"/deployments/{deployment.pk}/rollback/?revision=1").status_code == 403
    assert logged_in(charlie).get(f"/deployments/{deployment.pk}/rollback/?revision=1").status_code == 404


def test_rolling_back_to_the_serving_revision_is_refused(deployment, alice):
    html = logged_in(alice).post(f"/deployments/{deployment.pk}/rollback/", {"revision": "2"},
                                 follow=True).content.decode()

    assert "Revision 2 is already serving." in html
    assert deployment.rollouts.count() == 2


def test_undeploy_needs_the_model_id_typed(deployment, alice):
    client = logged_in(alice)

    refused = client.post(f"/deployments/{deployment.pk}/undeploy/", {"confirm": "yes"}, follow=True)
    assert "Type the model id iris to confirm the undeploy." in refused.content.decode()
    assert deployment.rollouts.count() == 2

    client.post(f"/deployments/{deployment.pk}/undeploy/", {"confirm": "iris"})
    assert Rollout.objects.get(deployment=deployment, revision=3).action == RolloutAction.UNDEPLOY
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.UNDEPLOYING


def test_the_deployment_page_has_a_fixed_number_of_queries(deployment, alice, django_assert_max_num_queries):
    client = logged_in(alice)
    for _ in range(5):
        an_event = deployment.events.first()
        an_event.pk = None
        an_event.save()

    with django_assert_max_num_queries(20):
        client.get(f"/deployments/{deployment.pk}/events/")
