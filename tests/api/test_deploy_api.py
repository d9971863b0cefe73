"""Deployments over REST: deploy, list/detail, scale, rollback, undeploy, rollouts and events."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Membership, Model, Role, Rollout, RolloutAction
from deployments.rollouts.spec import FIELD_HELP, DeploySpec
from tests.api.client import api_as, results
from tests.fixtures.deployments import a_ready_build, an_active_rollout, serving_deployment, variation

pytestmark = pytest.mark.django_db

DEPLOY = "/api/v1/models/iris/deploy/"


@pytest.fixture
def build(iris_model: Model):
    return a_ready_build(iris_model)


@pytest.fixture
def deployment(iris_model: Model, build, alice) -> Deployment:
    return serving_deployment(iris_model, variation(build, replicas=2, env=[
        {"name": "DB_PASSWORD", "value": "hunter2-secret", "secret": True}]), revisions=2, user=alice)


def reads(deployment: Deployment) -> list[str]:
    rollout = deployment.current_rollout
    assert rollout is not None
    base = f"/api/v1/deployments/{deployment.pk}/"
    return [base, f"{base}rollouts/", f"{base}events/", f"/api/v1/rollouts/{rollout.pk}/",
            f"/api/v1/rollouts/{rollout.pk}/events/"]


def writes(deployment: Deployment) -> dict[str, dict]:
    base = f"/api/v1/deployments/{deployment.pk}/"
    return {f"{base}scale/": {"variation": "default", "replicas": 3}, f"{base}rollback/": {"revision": 1},
            f"{base}undeploy/": {}, DEPLOY: {"variation": {"replicas": 4}}}


# --- personas ---------------------------------------------------------------------------------

def test_anonymous_callers_are_refused(deployment):
    for url in [*reads(deployment), "/api/v1/deployments/"]:
        assert api_as(None).get(url).status_code == 401, url
    for url, body in writes(deployment).items():
        assert api_as(None).post(url, body, format="json").status_code == 401, url
    assert deployment.rollouts.count() == 2


def test_an_outsider_sees_nothing_and_changes_nothing(deployment, other_project, charlie):
    client = api_as(charlie)

    for url in reads(deployment):
        assert client.get(url).status_code == 404, url
    for url, body in writes(deployment).items():
        assert client.post(url, body, format="json").status_code == 404, url
    assert results(client.get("/api/v1/deployments/")) == []
    assert deployment.rollouts.count() == 2


def test_a_viewer_reads_but_may_not_change(deployment, bob):
    client = api_as(bob)

    for url in reads(deployment):
        assert client.get(url).status_code == 200, url
    for url, body in writes(deployment).items():
        response = client.post(url, body, format="json")
        assert response.status_code == 403, url
        assert "needs the deployer role" in response.json()["detail"]
    assert deployment.rollouts.count() == 2


def test_a_deployer_member_may_deploy(build, project, charlie):
    Membership.objects.create(project=project, user=charlie, role=Role.DEPLOYER)

    response = api_as(charlie).post(DEPLOY, {"variations": [variation(build)]}, format="json")

    assert response.status_code == 202
    assert response.json()["triggered_by"] == "charlie"


# --- deploy -----------------------------------------------------------------------------------

def test_deploy_creates_the_deployment_and_its_first_rollout(build, alice):
    body = {"variations": [variation(build, replicas=2, server_workers=4, request_timeout_ms=3000,
                                     env=[{"name": "TOKEN", "value": "hunter2-secret", "secret": True}])]}

    response = api_as(alice).post(DEPLOY, body, format="json")

    data = response.json()
    assert response.status_code == 202, data
    rollout = Rollout.objects.get(pk=data["id"])
    assert data["revision"] == 1
    assert data["action"] == "deploy"
    assert data["status"] == "pending"
    assert data["model_id"] == "iris"
    assert data["deployment"] == rollout.deployment_id
    assert data["spec"]["variations"][0]["env"] == [{"name": "TOKEN", "value": "••••••", "secret": True}]
    stored = DeploySpec.from_json(rollout.spec).variations[0]
    assert (stored.replicas, stored.server_workers, stored.request_timeout_ms) == (2, 4, 3000)
    assert "hunter2" not in str(rollout.spec)


def test_bad_input_gets_a_message_per_field_and_writes_nothing(build, alice):
    body = {"variations": [variation(build, name="Bad Name", replicas=0, instance_type="huge",
                                     env=[{"name": "1X", "value": "v"}])]}

    response = api_as(alice).post(DEPLOY, body, format="json")

    errors = response.json()
    assert response.status_code == 400
    assert errors["variations.0.name"][0].startswith("Use 1-36 lowercase letters")
    assert errors["variations.0.replicas"] == ["Must be from 1 to 100 (got 0)."]
    assert errors["variations.0.instance_type"][0].startswith("Unknown instance type 'huge'")
    assert "variations.0.env.0.name" in errors
    assert not Deployment.objects.exists()
    assert not Rollout.objects.exists()


@pytest.mark.parametrize("environment", ["A/../A/.." * 11, "Production", "prod\n", "", "-staging", "e" * 33, 5, None])
def test_an_environment_breaking_the_rule_is_refused_and_nothing_is_deployed(build, alice, environment):
    body = {"variations": [variation(build)], "environment": environment}

    response = api_as(alice).post(DEPLOY, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["environment"]
    assert not Deployment.objects.exists()
    assert not Rollout.objects.exists()


def test_another_environment_gets_a_deployment_of_its_own(deployment, build, alice):
    response = api_as(alice).post(DEPLOY, {"variations": [variation(build)], "environment": "staging-2"},
                                  format="json")

    assert response.status_code == 202, response.json()
    assert Deployment.objects.get(pk=response.json()["deployment"]).environment == "staging-2"
    assert Deployment.objects.count() == 2


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"variations": [{"build_id": "x", "replicas": "3"}]}, "variations.0.replicas", "Use a whole number from 1 to 100."),
    ({"variation": {"shadow": "true"}}, "variation.shadow", "Use true or false."),
    ({"variation": {"name": 5}}, "variation.name", "Use text (a JSON string)."),
    ({"variation": {"env": [{"name": "A", "value": True}]}}, "variation.env.0.value", "Use text or a number."),
    ({"variation": {"replicas": None}, "strategy": 7}, "strategy", "Use text (a JSON string)."),
])
def test_a_json_value_of_the_wrong_type_is_refused_not_read_as_another(deployment, alice, body, field, message):
    response = api_as(alice).post(DEPLOY, body, format="json")

    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert deployment.rollouts.count() == 2


@pytest.mark.parametrize("body", [[], {"variation": "x"}, {"variations": []}, {"variation": {}, "variations": []}])
def test_a_malformed_body_is_refused(build, alice, body):
    response = api_as(alice).post(DEPLOY, body, format="json")

    assert response.status_code == 400
    assert not Rollout.objects.exists()


def test_one_variation_is_merged_into_what_serves(iris_model, deployment, alice):
    newer = a_ready_build(iris_model)

    response = api_as(alice).post(DEPLOY, {"variation": {"build_id": str(newer.build_id)}}, format="json")

    assert response.status_code == 202, response.json()
    spec = DeploySpec.from_json(Rollout.objects.get(pk=response.json()["id"]).spec).variations[0]
    old = DeploySpec.from_json(deployment.current_rollout.spec).variations[0]
    assert spec.build_id == str(newer.build_id)
    assert spec.replicas == 2
    assert spec.env == old.env  # the stored secret is kept as it is


def test_a_deploy_may_allow_outbound_network(build, alice):
    body = {"variations": [variation(build, outbound_network=True)]}

    response = api_as(alice).post(DEPLOY, body, format="json")

    data = response.json()
    assert response.status_code == 202, data
    assert data["spec"]["variations"][0]["outbound_network"] is True
    assert DeploySpec.from_json(Rollout.objects.get(pk=data["id"]).spec).variations[0].outbound_network


def test_outbound_network_that_is_not_a_boolean_is_refused(build, alice):
    response = api_as(alice).post(DEPLOY, {"variations": [variation(build, outbound_network="maybe")]},
                                  format="json")

    assert response.status_code == 400
    assert response.json()["variations.0.outbound_network"] == ["Use true or false."]
    assert not Rollout.objects.exists()


def test_the_detail_says_outbound_network_is_blocked_by_default(deployment, bob):
    data = api_as(bob).get(f"/api/v1/deployments/{deployment.pk}/").json()

    assert data["variations"][0]["outbound_network"] is False


def test_the_detail_says_outbound_network_is_allowed_and_a_merge_keeps_it(iris_model, build, alice):
    deployment = serving_deployment(iris_model, variation(build, outbound_network=True))
    client = api_as(alice)

    detail = client.get(f"/api/v1/deployments/{deployment.pk}/").json()
    merged = client.post(DEPLOY, {"variation": {"replicas": 3}}, format="json").json()

    assert detail["variations"][0]["outbound_network"] is True
    assert merged["spec"]["variations"][0]["outbound_network"] is True


def test_the_schema_documents_outbound_network_as_a_boolean(alice):
    schema = api_as(alice).get("/api/schema/", HTTP_ACCEPT="application/json").json()

    field = schema["components"]["schemas"]["VariationSpec"]["properties"]["outbound_network"]
    assert field == {"type": "boolean", "description": FIELD_HELP["outbound_network"]}


def test_deploy_while_a_rollout_runs_answers_409_with_the_reason(deployment, alice):
    active = an_active_rollout(deployment)

    response = api_as(alice).post(DEPLOY, {"variation": {"replicas": 4}}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == (f"Revision {active.revision} (deploy) is still in progress; wait until "
                                         "it finishes, then try again.")
    assert deployment.rollouts.count() == 3


# --- reading ----------------------------------------------------------------------------------

def test_the_list_is_filtered_and_masks_secrets(deployment, iris_model, alice):
    client = api_as(alice)

    listed = results(client.get("/api/v1/deployments/"))
    by_status = results(client.get("/api/v1/deployments/?status=stopped"))
    by_model = results(client.get("/api/v1/deployments/?model_id=iris"))

    assert [d["id"] for d in listed] == [deployment.pk]
    assert by_status == []
    assert len(by_model) == 1
    row = listed[0]
    assert row["endpoint_url"] == "http://127.0.0.1:18080/v1/models/iris/predict"
    assert row["current_revision"] == 2
    assert row["status"] == "running"
    assert row["variations"][0]["env"][0]["value"] == "••••••"
    assert row["variations"][0]["predict_url"] == "http://127.0.0.1:18080/v1/models/iris/default/predict"


def test_the_list_has_a_fixed_number_of_queries(deployment, iris_model, alice, django_assert_max_num_queries):
    other = Model.objects.create(project=iris_model.project, model_id="churn", name="Churn")
    serving_deployment(other, variation(a_ready_build(other)))
    client = api_as(alice)

    with django_assert_max_num_queries(6):
        assert len(results(client.get("/api/v1/deployments/"))) == 2


def test_the_detail_has_status_replicas_endpoint_and_revision(deployment, bob):
    data = api_as(bob).get(f"/api/v1/deployments/{deployment.pk}/").json()

    assert data["model_id"] == "iris"
    assert data["current_revision"] == 2
    assert data["endpoint_url"] == "http://127.0.0.1:18080/v1/models/iris/predict"
    assert data["replicas"]["desired"] == 2
    assert data["replicas"]["live"] is True  # observed just now, by the fixture's last look
    assert data["replicas"]["ready"] == 2
    assert data["replicas"]["runtime_error"] == ""
    assert data["active_rollout"] is None
    assert "hunter2" not in str(data)


def test_rollouts_and_events_are_listed(deployment, bob):
    client = api_as(bob)

    rollouts = results(client.get(f"/api/v1/deployments/{deployment.pk}/rollouts/"))
    rollout = client.get(f"/api/v1/rollouts/{deployment.current_rollout.pk}/").json()
    events = results(client.get(f"/api/v1/rollouts/{deployment.current_rollout.pk}/events/"))
    all_events = results(client.get(f"/api/v1/deployments/{deployment.pk}/events/"))

    assert [r["revision"] for r in rollouts] == [2, 1]
    assert rollout["status"] == "succeeded"
    assert rollout["spec"]["variations"][0]["env"][0]["value"] == "••••••"
    assert [e["message"] for e in events] == ["Revision 2 serves."]
    assert {e["revision"] for e in all_events} == {1, 2, None}  # None: the health check's, of no rollout
    assert {e["kind"] for e in all_events if e["revision"] is None} == {"replica_ready"}


def test_an_unknown_deployment_or_rollout_is_404(alice):
    client = api_as(alice)

    assert client.get("/api/v1/deployments/999/").status_code == 404
    assert client.get("/api/v1/rollouts/999/events/").status_code == 404


# --- changes ----------------------------------------------------------------------------------

def test_scale_rollback_and_undeploy_each_queue_a_rollout(deployment, alice):
    client = api_as(alice)
    base = f"/api/v1/deployments/{deployment.pk}/"

    scaled = client.post(f"{base}scale/", {"variation": "default", "replicas": 3}, format="json")
    assert scaled.status_code == 202
    assert scaled.json()["action"] == RolloutAction.SCALE
    Rollout.objects.filter(pk=scaled.json()["id"]).update(status="failed")

    back = client.post(f"{base}rollback/", {"revision": 1}, format="json")
    assert back.status_code == 202
    assert back.json()["source_revision"] == 1
    Rollout.objects.filter(pk=back.json()["id"]).update(status="failed")

    gone = client.post(f"{base}undeploy/", format="json")
    assert gone.status_code == 202
    assert gone.json()["action"] == RolloutAction.UNDEPLOY


@pytest.mark.parametrize(("path", "body", "field", "message"), [
    ("scale/", {"replicas": 0}, "replicas", "Must be from 1 to 100 (got 0)."),
    ("scale/", {"replicas": 2}, "replicas", "default already runs 2 replica(s)."),
    ("scale/", {"variation": "nope", "replicas": 3}, "variation", "No variation 'nope'"),
    ("rollback/", {"revision": 2}, "revision", "Revision 2 is already serving."),
    ("rollback/", {"revision": 9}, "revision", "Revision 9 does not exist."),
    ("rollback/", {"revision": "x"}, "revision", "Use a whole number."),
])
def test_a_bad_change_names_the_field_and_writes_nothing(deployment, alice, path, body, field, message):
    response = api_as(alice).post(f"/api/v1/deployments/{deployment.pk}/{path}", body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert deployment.rollouts.count() == 2


def test_a_change_while_a_rollout_runs_answers_409(deployment, alice):
    an_active_rollout(deployment)
    client = api_as(alice)
    base = f"/api/v1/deployments/{deployment.pk}/"

    for path, body in (("scale/", {"replicas": 3}), ("rollback/", {"revision": 1}), ("undeploy/", {})):
        response = client.post(f"{base}{path}", body, format="json")
        assert response.status_code == 409, path
        assert "is still in progress" in response.json()["detail"]
    assert deployment.rollouts.count() == 3
