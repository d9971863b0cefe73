"""The deploy wizard: Realtime → configure (checked as you type) → review (diff) → Deploy."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from console.crypto import decrypt
from deployments.models import (
    Build,
    Deployment,
    DeploymentStatus,
    Membership,
    Model,
    Role,
    Rollout,
    RolloutAction,
    RolloutStatus,
)
from deployments.rollouts.spec import DeploySpec
from deployments.rollouts.spec_edit import last_served_spec
from tests.fixtures.deployments import (
    a_ready_build,
    an_active_rollout,
    serving_deployment,
    undeployed_deployment,
    variation,
)
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

START, CONFIGURE, VALIDATE = "/models/iris/deploy/", "/models/iris/deploy/realtime/", "/models/iris/deploy/validate/"
DEFAULTS = {"name": "default", "instance_type": "small", "replicas": 1, "server_workers": 2,
            "request_timeout_ms": 1000, "deploy_timeout_min": 20, "max_batch_size": 64, "traffic_percent": 100}


def form(build: Build, *variations: dict[str, Any], action: str = "review") -> dict[str, Any]:
    """What the browser posts: one variation form (+ env rows) per dict, management forms included."""
    variations = variations or ({},)
    data: dict[str, Any] = {"action": action, "variations-TOTAL_FORMS": len(variations),
                            "variations-INITIAL_FORMS": 0, "variations-MIN_NUM_FORMS": 1,
                            "variations-MAX_NUM_FORMS": 1000}
    for i, overrides in enumerate(variations):
        overrides = dict(overrides)
        env = overrides.pop("env", [])
        for key, value in (DEFAULTS | {"build_id": str(build.build_id)} | overrides).items():
            if value is True:
                data[f"variations-{i}-{key}"] = "on"
            elif value is not False:
                data[f"variations-{i}-{key}"] = value
        data[f"variations-{i}-env-TOTAL_FORMS"], data[f"variations-{i}-env-INITIAL_FORMS"] = len(env), 0
        for j, item in enumerate(env):
            for key, value in item.items():
                if value is not False:
                    data[f"variations-{i}-env-{j}-{key}"] = "on" if value is True else value
    return data


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


def build_cell(build: Build) -> str:
    """How Review names a build: its name, short id and upload time, the full id on hover."""
    return (f'<span class="build-ref" title="Build {build.build_id}">iris.tar.gz · <span class="mono">'
            f'{build.short_id}</span> · uploaded <time datetime="{build.created_at.isoformat()}">'
            f'{build.created_at:%Y-%m-%d %H:%M} UTC</time></span>')


def nothing_written() -> bool:
    return not Deployment.objects.exists() and not Rollout.objects.exists()


# --- who may use it ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [START, CONFIGURE])
def test_an_anonymous_visitor_is_sent_to_log_in(build, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", [START, CONFIGURE])
def test_an_outsider_does_not_see_that_the_model_exists(build, other_project, charlie, url):
    assert logged_in(charlie).get(url).status_code == 404


def test_an_outsider_cannot_deploy_or_validate(build, other_project, charlie):
    client = logged_in(charlie)

    assert client.post(CONFIGURE, form(build)).status_code == 404
    assert client.post(VALIDATE, form(build), HTTP_HX_REQUEST="true",
                       HTTP_HX_TRIGGER_NAME="variations-0-replicas").status_code == 404
    assert nothing_written()


@pytest.mark.parametrize("url", [START, CONFIGURE])
def test_a_viewer_may_not_open_the_wizard(build, bob, url):
    assert logged_in(bob).get(url).status_code == 403


def test_a_viewer_cannot_deploy(build, bob):
    client = logged_in(bob)
    client.session["x"] = 1

    assert client.post(CONFIGURE, form(build)).status_code == 403
    assert client.post(CONFIGURE, {"action": "deploy"}).status_code == 403
    assert nothing_written()


def test_the_model_page_offers_deploy_to_a_deployer_only(build, alice, bob):
    admin_page = logged_in(alice).get("/models/iris/").content.decode()
    viewer_page = logged_in(bob).get("/models/iris/").content.decode()

    assert f'href="/models/iris/deploy/?build={build.build_id}"' in admin_page
    assert 'id="deploy-model"' in admin_page
    assert 'href="/models/iris/deployments/"' in admin_page
    assert "/deploy/" not in viewer_page
    assert 'href="/models/iris/deployments/"' in viewer_page


def test_a_deployer_member_may_deploy(build, project, charlie):
    Membership.objects.create(project=project, user=charlie, role=Role.DEPLOYER)
    client = logged_in(charlie)

    assert client.post(CONFIGURE, form(build)).status_code == 200
    assert client.post(CONFIGURE, {"action": "deploy"}).status_code == 302
    assert Rollout.objects.get().triggered_by == charlie


# --- the steps --------------------------------------------------------------------------------

def test_the_first_step_offers_realtime_and_carries_the_build(build, alice):
    page = logged_in(alice).get(f"{START}?build={build.build_id}").content.decode()

    assert 'value="realtime" checked' in page
    assert f'name="build" value="{build.build_id}"' in page
    assert 'action="/models/iris/deploy/realtime/"' in page


def test_configure_starts_with_the_documented_defaults_and_the_instance_catalog(build, alice):
    page = logged_in(alice).get(f"{CONFIGURE}?build={build.build_id}").content.decode()

    for name, value in DEFAULTS.items():
        if name != "instance_type":
            assert f'name="variations-0-{name}" value="{value}"' in page, name
    assert f'<option value="{build.build_id}" selected>' in page
    assert '<option value="small" selected>small — 1 CPU, 2 GiB</option>' in page
    for label in ("medium — 2 CPU, 4 GiB", "large — 4 CPU, 16 GiB", "xlarge — 8 CPU, 32 GiB"):
        assert label in page
    assert "2-4 × the instance&#x27;s CPU cores" in page
    for advanced in ("outbound_network", "env-TOTAL_FORMS"):
        assert f'name="variations-0-{advanced}"' in page
    assert 'hx-post="/models/iris/deploy/validate/"' in page


KUBERNETES_ONLY_FIELDS = ("daemon_mode", "iam_role_arn", "service_account_key_secret_name")
GPU_LABELS = ("gpu.t4.xl — 4 CPU, 16 GiB, 1× nvidia-tesla-t4", "gpu.a10.xl — 4 CPU, 16 GiB, 1× nvidia-a10g")


def test_the_local_runtime_offers_no_field_that_only_kubernetes_uses(build, alice):
    page = logged_in(alice).get(CONFIGURE).content.decode()

    for name in KUBERNETES_ONLY_FIELDS:
        assert f'name="variations-0-{name}"' not in page, name
    for label in GPU_LABELS:
        assert label not in page
    assert "GPU instance types apply on Kubernetes: this console runs replicas on the local runtime" in page


@override_settings(BERTH_BACKEND="kubernetes")
def test_on_kubernetes_the_wizard_offers_gpus_iam_roles_and_daemon_mode(build, alice):
    page = logged_in(alice).get(CONFIGURE).content.decode()

    for name in KUBERNETES_ONLY_FIELDS:
        assert f'name="variations-0-{name}"' in page, name
    for label in GPU_LABELS:
        assert label in page
    assert "apply on Kubernetes" not in page


def test_the_local_runtime_refuses_a_gpu_instance_type_and_ignores_kubernetes_only_values(build, alice):
    data = form(build, {"instance_type": "gpu.t4.xl", "iam_role_arn": "arn:aws:iam::123456789012:role/m",
                        "daemon_mode": True})
    client = logged_in(alice)

    refused = client.post(CONFIGURE, data)
    review = client.post(CONFIGURE, form(build, {"iam_role_arn": "arn:aws:iam::123456789012:role/m",
                                                "daemon_mode": True, "service_account_key_secret_name": "gcp"}))
    client.post(CONFIGURE, {"action": "deploy"})

    assert refused.status_code == 400
    assert ('id="err-variations-0-instance_type"><li>gpu.t4.xl has a GPU; this console runs the local runtime, '
            "which has none.") in refused.content.decode()
    assert review.status_code == 200
    stored = DeploySpec.from_json(Rollout.objects.get().spec).variations[0]
    assert (stored.iam_role_arn, stored.daemon_mode, stored.service_account_key_secret_name) == ("", False, "")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "Default_1", "Use 1-36 lowercase letters, digits, &#x27;.&#x27; or &#x27;-&#x27;"),
    ("name", "-default", "starting and ending with a letter or digit"),
    ("name", "a" * 37, "Use 1-36 lowercase letters"),
    ("replicas", "101", "Must be from 1 to 100 (got 101)."),
    ("replicas", "0", "Must be from 1 to 100 (got 0)."),
    ("server_workers", "33", "Must be from 1 to 32 (got 33)."),
    ("request_timeout_ms", "99", "Must be from 100 to 600000 (got 99)."),
    ("request_timeout_ms", "600001", "Must be from 100 to 600000 (got 600001)."),
    ("deploy_timeout_min", "2", "Must be from 3 to 120 (got 2)."),
    ("deploy_timeout_min", "121", "Must be from 3 to 120 (got 121)."),
    ("max_batch_size", "1025", "Must be from 1 to 1024 (got 1025)."),
    ("replicas", "two", "Use a whole number from 1 to 100."),
    ("service_account_key_secret_name", "Not_A_Secret", "Use a Kubernetes secret name"),
    ("iam_role_arn", "my-role", "arn:aws:iam::123456789012:role/my-model"),
])
@override_settings(BERTH_BACKEND="kubernetes")  # where every field is offered
def test_a_field_is_checked_as_the_user_types(build, alice, field, value, message):
    data = form(build, {field: value})

    response = logged_in(alice).post(VALIDATE, data, HTTP_HX_REQUEST="true",
                                     HTTP_HX_TRIGGER_NAME=f"variations-0-{field}")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith(f'<ul class="errorlist field-errors" id="err-variations-0-{field}"><li>')
    assert message in html
    assert nothing_written()


def test_a_good_value_clears_the_fields_errors(build, alice):
    response = logged_in(alice).post(VALIDATE, form(build, {"replicas": "7"}), HTTP_HX_REQUEST="true",
                                     HTTP_HX_TRIGGER_NAME="variations-0-replicas")

    assert response.content.decode() == '<ul class="errorlist field-errors" id="err-variations-0-replicas"></ul>'


def test_an_env_name_is_checked_as_the_user_types(build, alice):
    data = form(build, {"env": [{"name": "1BAD", "value": "x"}]})

    response = logged_in(alice).post(VALIDATE, data, HTTP_HX_REQUEST="true",
                                     HTTP_HX_TRIGGER_NAME="variations-0-env-0-name")

    assert 'id="err-variations-0-env-0-name"' in response.content.decode()
    assert "not starting with a digit" in response.content.decode()


def test_typing_a_traffic_share_updates_the_running_total(build, alice):
    data = form(build, {"traffic_percent": 60}, {"name": "challenger", "traffic_percent": 30})

    html = logged_in(alice).post(VALIDATE, data, HTTP_HX_REQUEST="true",
                                 HTTP_HX_TRIGGER_NAME="variations-1-traffic_percent").content.decode()

    assert '<div id="traffic-total" class="traffic off" hx-swap-oob="true">' in html
    assert "<strong>90%</strong>" in html
    assert "must add up to 100%" in html
    assert "Rebalance evenly" in html


def test_an_unknown_field_is_refused(build, alice):
    response = logged_in(alice).post(VALIDATE, form(build), HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER_NAME="evil")

    assert response.status_code == 400


def test_review_shows_what_will_run_and_writes_nothing(build, alice):
    client = logged_in(alice)

    response = client.post(CONFIGURE, form(build, {"replicas": 2, "server_workers": 4}))

    page = response.content.decode()
    assert response.status_code == 200
    assert "First deployment" in page
    assert f'{build_cell(build)}</td><td>small</td><td>2</td><td>4</td>' in page
    assert 'name="action" value="deploy"' in page
    assert nothing_written()


def test_bad_input_gets_a_message_on_each_field_and_writes_nothing(build, alice):
    data = form(build, {"name": "Bad Name", "replicas": 0, "request_timeout_ms": 50,
                        "env": [{"name": "2X", "value": "1"}, {"name": "BERTH_PORT", "value": "1"}]})

    response = logged_in(alice).post(CONFIGURE, data)

    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="err-variations-0-name"><li>Use 1-36 lowercase letters' in page
    assert 'id="err-variations-0-replicas"><li>Must be from 1 to 100 (got 0).' in page
    assert 'id="err-variations-0-request_timeout_ms"><li>Must be from 100 to 600000 (got 50).' in page
    assert 'id="err-variations-0-env-0-name"><li>Use letters, digits and' in page
    assert nothing_written()


def test_cross_field_rules_come_from_the_spec_and_land_on_their_field(build, alice):
    data = form(build, {"env": [{"name": "B", "value": "1"}, {"name": "A", "value": "1"},
                                {"name": "A", "value": "2"}]})

    page = logged_in(alice).post(CONFIGURE, data).content.decode()

    assert 'id="err-variations-0-env-2-name"><li>A is set twice.' in page
    assert nothing_written()


def test_a_reserved_env_name_is_refused_as_the_user_types_and_on_review(build, alice):
    data = form(build, {"env": [{"name": "BERTH_PORT", "value": "1"}]})
    client = logged_in(alice)

    typed = client.post(VALIDATE, data, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER_NAME="variations-0-env-0-name")
    reviewed = client.post(CONFIGURE, data)

    message = "BERTH_PORT: names starting with BERTH_ or PROMETHEUS_ are reserved for the model server."
    assert message in typed.content.decode()
    assert f'id="err-variations-0-env-0-name"><li>{message}' in reviewed.content.decode()
    assert nothing_written()


def test_a_failed_build_cannot_be_chosen(iris_model, build, alice):
    failed = a_ready_build(iris_model, status="failed")

    page = logged_in(alice).post(CONFIGURE, form(failed)).content.decode()

    assert f'id="err-variations-0-build_id"><li>Build {failed.short_id} is failed; only ready builds' in page
    assert nothing_written()


def test_traffic_that_does_not_add_up_is_explained_and_rebalanced(iris_model, build, alice):
    other = a_ready_build(iris_model)
    data = form(build, {"traffic_percent": 70}, {"name": "challenger", "build_id": str(other.build_id),
                                                 "traffic_percent": 10})
    client = logged_in(alice)

    refused = client.post(CONFIGURE, data)
    rebalanced = client.post(CONFIGURE, data | {"action": "rebalance"}, HTTP_HX_REQUEST="true")

    assert refused.status_code == 400
    assert "Traffic of the serving variations must add up to 100% (now default 70%, challenger 10%)" in \
        refused.content.decode()
    assert "Rebalance evenly" in refused.content.decode()
    html = rebalanced.content.decode()
    assert html.startswith('\n<form id="deploy-form"')
    assert 'name="variations-0-traffic_percent" value="50"' in html
    assert 'name="variations-1-traffic_percent" value="50"' in html
    assert "<strong>100%</strong>" in html
    assert nothing_written()


def test_a_second_variation_is_added_with_its_own_build_and_no_traffic(iris_model, build, alice):
    newer = a_ready_build(iris_model)

    html = logged_in(alice).post(CONFIGURE, form(build, action="add_variation"),
                                 HTTP_HX_REQUEST="true").content.decode()

    assert 'name="variations-TOTAL_FORMS" value="2"' in html
    assert 'name="variations-1-name" value="challenger"' in html
    assert f'<option value="{newer.build_id}" selected>' in html.split('id="variation-1"')[1]
    assert 'name="variations-1-traffic_percent" value="0"' in html
    assert "errorlist field-errors" in html
    assert "<li>" not in html.split('id="variation-1"')[1]


def test_an_env_row_is_added(build, alice):
    html = logged_in(alice).post(CONFIGURE, form(build, action="add_env:0"), HTTP_HX_REQUEST="true").content.decode()

    assert 'name="variations-0-env-TOTAL_FORMS" value="1"' in html
    assert 'name="variations-0-env-0-name"' in html


def test_deploy_creates_a_rollout_and_sends_the_user_to_the_deployment(build, alice):
    client = logged_in(alice)
    client.post(CONFIGURE, form(build, {"replicas": 2, "env": [
        {"name": "API_URL", "value": "https://features.internal"},
        {"name": "DB_PASSWORD", "value": "hunter2-secret", "secret": True}]}))

    response = client.post(CONFIGURE, {"action": "deploy"})

    deployment = Deployment.objects.get()
    rollout = deployment.rollouts.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/events/"
    assert rollout.action == RolloutAction.DEPLOY
    assert rollout.triggered_by == alice
    spec = DeploySpec.from_json(rollout.spec).variations[0]
    assert spec.replicas == 2
    assert spec.build_id == str(build.build_id)
    env = {e.name: e for e in spec.env}
    assert env["API_URL"].value == "https://features.internal"
    assert env["DB_PASSWORD"].secret
    assert "hunter2" not in env["DB_PASSWORD"].value
    assert "hunter2" not in str(client.session.items())
    assert client.post(CONFIGURE, {"action": "deploy"}).status_code == 302  # the draft is used once
    assert deployment.rollouts.count() == 1


def test_after_deploy_the_page_says_the_revision_is_rolling_out_tagged_for_the_live_update(build, alice):
    client = logged_in(alice)
    client.post(CONFIGURE, form(build))

    page = client.post(CONFIGURE, {"action": "deploy"}, follow=True).content.decode()

    rollout = Deployment.objects.get().rollouts.get()
    assert "Revision 1 is rolling out." in page
    assert f"rollout-{rollout.pk}" in page


def test_the_reviewed_draft_never_holds_a_secret_in_clear(build, alice):
    client = logged_in(alice)

    client.post(CONFIGURE, form(build, {"env": [{"name": "TOKEN", "value": "hunter2-secret", "secret": True}]}))

    assert "hunter2" not in str(dict(client.session.items()))


def test_editing_starts_from_what_serves_and_the_review_shows_the_diff(iris_model, build, alice):
    newer = a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build, env=[
        {"name": "TOKEN", "value": "hunter2-secret", "secret": True}]), revisions=2)
    client = logged_in(alice)

    page = client.get(f"{CONFIGURE}?build={newer.build_id}").content.decode()
    review = client.post(CONFIGURE, form(newer, {"replicas": 3, "env": [
        {"name": "TOKEN", "value": "", "secret": True, "stored": True}]})).content.decode()

    assert "hunter2" not in page
    assert 'name="variations-0-env-0-name" value="TOKEN"' in page
    assert "kept unless you type a new value" in page
    assert f'<option value="{newer.build_id}" selected>' in page
    assert "Changes compared with revision 2 (serving now)" in review
    assert f"<td>Build</td><td>{build_cell(build)}</td><td>{build_cell(newer)}</td>" in review
    assert '<td>Replicas</td><td class="mono">1</td><td class="mono">3</td>' in review
    assert "env TOKEN" not in review  # the kept secret is unchanged

    client.post(CONFIGURE, {"action": "deploy"})
    rollout = deployment.rollouts.get(revision=3)
    stored = DeploySpec.from_json(rollout.spec).variations[0].env[0]
    assert stored.secret
    assert deployment.current_rollout is not None
    assert stored.value == DeploySpec.from_json(
        deployment.current_rollout.spec).variations[0].env[0].value


def checkbox(page: str, name: str) -> str:
    """The `<input>` tag of checkbox `name`."""
    start = page.index(f'name="{name}"')
    return page[page.rindex("<input", 0, start):page.index(">", start) + 1]


@override_settings(BERTH_BACKEND="kubernetes")  # where daemon mode and the IAM role are offered
def test_outbound_network_is_an_unticked_checkbox_next_to_daemon_mode_with_its_help(build, alice):
    page = logged_in(alice).get(f"{CONFIGURE}?build={build.build_id}").content.decode()

    tag = checkbox(page, "variations-0-outbound_network")
    assert 'type="checkbox"' in tag
    assert "checked" not in tag
    assert page.index('name="variations-0-daemon_mode"') < page.index('name="variations-0-outbound_network"') \
        < page.index('name="variations-0-iam_role_arn"')
    assert "Allow outbound network</label>" in page
    assert ("Let the model&#x27;s code open connections to other hosts. Off: replicas have no network at all; "
            "the gateway reaches them over a private socket.") in page
    assert "so only allow it for builds you trust." in page


def test_allowing_outbound_network_is_shown_on_review_and_deployed(build, alice):
    client = logged_in(alice)

    allowed = client.post(CONFIGURE, form(build, {"outbound_network": True})).content.decode()
    client.post(CONFIGURE, {"action": "deploy"})

    assert "<th>Outbound network</th>" in allowed
    assert "<td>100%</td><td>allowed</td>" in allowed
    assert DeploySpec.from_json(Rollout.objects.get().spec).variations[0].outbound_network


def test_review_says_outbound_network_is_blocked_by_default(build, alice):
    review = logged_in(alice).post(CONFIGURE, form(build)).content.decode()

    assert "<td>100%</td><td>blocked</td>" in review


def test_editing_keeps_outbound_network_ticked_and_the_review_shows_its_change(iris_model, build, alice):
    serving_deployment(iris_model, variation(build, outbound_network=True))
    client = logged_in(alice)

    page = client.get(CONFIGURE).content.decode()
    review = client.post(CONFIGURE, form(build)).content.decode()  # the box unticked

    assert "checked" in checkbox(page, "variations-0-outbound_network")
    assert '<td>Outbound network</td><td class="mono">yes</td><td class="mono">no</td>' in review
    assert "<td>100%</td><td>blocked</td>" in review


def test_deploying_while_a_rollout_runs_is_refused_with_a_clear_message(iris_model, build, alice):
    deployment = serving_deployment(iris_model, variation(build))
    active = an_active_rollout(deployment)
    client = logged_in(alice)
    client.post(CONFIGURE, form(build, {"replicas": 2}))

    response = client.post(CONFIGURE, {"action": "deploy"})

    assert response.status_code == 409
    assert f"Revision {active.revision} (deploy) is still in progress; wait until it finishes" in \
        response.content.decode()
    assert deployment.rollouts.count() == 2


def test_deploy_without_a_review_is_sent_back_to_configure(build, alice):
    response = logged_in(alice).post(CONFIGURE, {"action": "deploy"}, follow=True)

    assert response.redirect_chain == [(CONFIGURE, 302)]
    assert "the reviewed configuration expired" in response.content.decode()
    assert nothing_written()


# --- deploying again after an undeploy ------------------------------------------------------------

def stopped_two_variation_deployment(iris_model: Model, build: Build, newer: Build) -> Deployment:
    return undeployed_deployment(iris_model, variation(build, replicas=2, traffic_percent=70, env=[
        {"name": "API_URL", "value": "https://features.internal"},
        {"name": "TOKEN", "value": "hunter2-secret", "secret": True}]),
        variation(newer, name="challenger", traffic_percent=30), revisions=2)


def test_after_an_undeploy_the_wizard_starts_from_the_last_revision_that_served(iris_model, build, alice):
    newer = a_ready_build(iris_model)  # the newest ready build, which a fresh form would pick
    stopped_two_variation_deployment(iris_model, build, newer)

    page = logged_in(alice).get(CONFIGURE).content.decode()

    default, challenger = page.split('id="variation-1"')
    assert "Nothing serves now; the form starts from revision 2, the last that served." in page
    assert f'<option value="{build.build_id}" selected>' in default
    assert 'name="variations-0-replicas" value="2"' in default
    assert 'name="variations-0-traffic_percent" value="70"' in default
    assert 'name="variations-0-env-0-name" value="API_URL"' in default
    assert 'name="variations-0-env-0-value" value="https://features.internal"' in default
    assert 'name="variations-0-env-1-name" value="TOKEN"' in default
    assert "hunter2" not in page
    assert 'name="variations-1-name" value="challenger"' in challenger
    assert f'<option value="{newer.build_id}" selected>' in challenger
    assert 'name="variations-1-traffic_percent" value="30"' in challenger


def test_redeploying_what_last_served_keeps_its_stored_secret(iris_model, build, alice):
    newer = a_ready_build(iris_model)
    deployment = stopped_two_variation_deployment(iris_model, build, newer)
    client = logged_in(alice)
    env = [{"name": "API_URL", "value": "https://features.internal"},
           {"name": "TOKEN", "value": "", "secret": True, "stored": True}]

    review = client.post(CONFIGURE, form(build, {"replicas": 2, "traffic_percent": 70, "env": env},
                                         {"name": "challenger", "build_id": str(newer.build_id),
                                          "traffic_percent": 30})).content.decode()
    response = client.post(CONFIGURE, {"action": "deploy"})

    assert "Changes compared with revision 2 (the last that served; nothing serves now)" in review
    assert "Nothing changes" in review
    assert "hunter2" not in str(dict(client.session.items()))
    assert response.status_code == 302
    spec = DeploySpec.from_json(deployment.rollouts.get(revision=4).spec)
    default, challenger = spec.variations
    assert default.env[1].secret
    assert decrypt(default.env[1].value) == "hunter2-secret"
    assert (default.replicas, challenger.name, challenger.traffic_percent) == (2, "challenger", 30)


def test_the_last_served_spec_passes_over_failed_and_undeploy_revisions(iris_model, build):
    deployment = undeployed_deployment(iris_model, variation(build, replicas=2))
    Rollout.objects.create(deployment=deployment, revision=3, status=RolloutStatus.FAILED,
                           spec=DeploySpec.from_json(deployment.rollouts.get(revision=1).spec)
                           .with_replicas("default", 5).to_json())

    served = last_served_spec(deployment)

    assert served is not None
    assert served.variations[0].replicas == 2


def test_a_deployment_that_never_served_starts_from_the_defaults(iris_model, build, alice):
    deployment = Deployment.objects.create(model=iris_model, status=DeploymentStatus.FAILED)
    Rollout.objects.create(deployment=deployment, revision=1, status=RolloutStatus.FAILED,
                           spec={"variations": [variation(build, replicas=5)]})

    page = logged_in(alice).get(CONFIGURE).content.decode()

    assert 'name="variations-0-replicas" value="1"' in page
    assert "the form starts from revision" not in page


# --- issue 12: the wizard as a user finds it ---------------------------------------------------------

def first_submit_button(page: str) -> str:
    """The first `<button>` of the deploy form: what Enter in any of its fields presses."""
    form_start = page.index('<form id="deploy-form"')
    start = page.index("<button", form_start)
    return page[start:page.index(">", start) + 1]


def test_enter_in_any_field_means_review(build, alice):
    page = logged_in(alice).get(CONFIGURE).content.decode()

    assert 'name="action" value="review"' in first_submit_button(page)
    assert "add_env" not in first_submit_button(page)


BAD_VALUES = {"name": "Bad_Name!", "replicas": 0, "traffic_percent": 200}


@pytest.mark.parametrize("action", ["add_env:0", "add_variation", "rebalance"])
def test_editing_the_form_keeps_the_errors_of_values_still_wrong(build, alice, action):
    html = logged_in(alice).post(CONFIGURE, form(build, BAD_VALUES, action=action),
                                 HTTP_HX_REQUEST="true").content.decode()

    assert 'id="err-variations-0-name"><li>Use 1-36 lowercase letters' in html
    assert 'id="err-variations-0-replicas"><li>Must be from 1 to 100 (got 0).' in html
    if action == "rebalance":  # it puts the traffic right, so that error goes
        assert 'id="err-variations-0-traffic_percent"></ul>' in html
    else:
        assert 'id="err-variations-0-traffic_percent"><li>Must be from 0 to 100 (got 200).' in html
    assert 'name="variations-0-name" value="Bad_Name!"' in html
    assert "data-focus-on-load" not in html  # the user clicked a button: the focus stays on it
    assert nothing_written()


def test_editing_a_form_without_errors_shows_none(build, alice):
    html = logged_in(alice).post(CONFIGURE, form(build, action="add_env:0"), HTTP_HX_REQUEST="true").content.decode()

    assert "<li>" not in html
    assert 'id="error-summary"' not in html


def two_variations(build: Build, action: str) -> dict[str, Any]:
    return form(build, {"traffic_percent": 50, "env": [{"name": "A", "value": "1"}]},
                {"name": "challenger", "traffic_percent": 50, "env": [{"name": "B", "value": "2"}]}, action=action)


def test_remove_this_variation_is_a_button_that_removes_it(build, alice):
    client = logged_in(alice)
    page = client.post(CONFIGURE, two_variations(build, "add_variation"), HTTP_HX_REQUEST="true").content.decode()

    html = client.post(CONFIGURE, two_variations(build, "remove:1"), HTTP_HX_REQUEST="true").content.decode()

    assert '<button type="submit" class="secondary" name="action" value="remove:1"' in page
    assert "-DELETE" not in page.split('id="env-0"')[0]  # no checkbox that does nothing
    assert 'name="variations-TOTAL_FORMS" value="1"' in html
    assert "challenger" not in html
    assert 'name="variations-0-env-0-name" value="A"' in html
    assert "Remove this variation" not in html  # the last one stays
    assert 'name="variations-0-traffic_percent" value="100"' in html  # the one left serves everything
    assert '<div id="traffic-total" class="traffic ">' in html
    assert "<strong>100%</strong>" in html


def test_removing_a_variation_moves_the_later_ones_up_with_their_env_rows(build, alice):
    data = form(build, {"traffic_percent": 40}, {"name": "challenger", "traffic_percent": 30},
                {"name": "third", "traffic_percent": 30, "env": [{"name": "B", "value": "2"}]}, action="remove:0")

    html = logged_in(alice).post(CONFIGURE, data, HTTP_HX_REQUEST="true").content.decode()

    assert 'name="variations-TOTAL_FORMS" value="2"' in html
    assert 'name="variations-0-name" value="challenger"' in html
    assert 'name="variations-1-name" value="third"' in html
    assert 'name="variations-1-env-0-name" value="B"' in html
    assert "<strong>60%</strong>" in html
    assert "Rebalance evenly" in html
    assert nothing_written()


def test_a_failed_review_starts_with_a_focused_summary_linking_each_error_to_its_field(build, alice):
    client = logged_in(alice)

    response = client.post(CONFIGURE, form(build, {"replicas": 0, "env": [{"name": "2X", "value": "1"}]}))
    traffic = client.post(CONFIGURE, form(build, {}, {"name": "challenger", "traffic_percent": 10})).content.decode()

    page = response.content.decode()
    assert response.status_code == 400
    summary = page[page.index('<div class="error-summary"'):page.index("</div>", page.index('id="error-summary"'))]
    assert 'role="alert"' in summary
    assert 'tabindex="-1"' in summary
    assert "data-focus-on-load" in summary
    assert "2 things to fix before Review" in summary
    assert ('<a href="#id_variations-0-replicas">Variation default · Replicas (pods): '
            "Must be from 1 to 100 (got 0).</a>") in summary
    assert '<a href="#id_variations-0-env-0-name">Variation default · environment variable 1 name: Use letters' \
        in summary
    assert page.index('id="error-summary"') < page.index('id="variation-0"')
    assert "One thing to fix before Review" in traffic
    assert '<a href="#traffic-total">Variations: Traffic of the serving variations must add up to 100%' in traffic
    replicas = checkbox(page, "variations-0-replicas")  # the <input> tag, whatever its type
    assert 'aria-invalid="true"' in replicas
    assert 'aria-describedby="err-variations-0-replicas"' in replicas
    assert "deploy-wizard.js" in page


GENERIC_DJANGO_MESSAGES = ("This field is required.", "Ensure this value", "Select a valid choice",
                           "Enter a whole number", "ManagementForm data", "Please submit")


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"build_id": ""}, "build_id", "Choose a build to deploy."),
    ({"replicas": "1.5"}, "replicas", "Use a whole number from 1 to 100."),
    ({"max_batch_size": "-1"}, "max_batch_size", "Use a whole number from 1 to 1024."),
    ({"instance_type": "huge"}, "instance_type", "Unknown instance type &#x27;huge&#x27;; choose one of: small, "),
])
def test_messages_are_the_products_words_with_the_allowed_range(build, alice, overrides, field, message):
    page = logged_in(alice).post(CONFIGURE, form(build, overrides)).content.decode()

    assert f'id="err-variations-0-{field}"><li>{message}' in page
    for generic in GENERIC_DJANGO_MESSAGES:
        assert generic not in page
    assert nothing_written()


@pytest.mark.parametrize(("data", "message"), [
    ({"variations-TOTAL_FORMS": 0, "variations-INITIAL_FORMS": 0}, "Add at least one variation."),
    ({}, "The form arrived incomplete (its list of variations is missing); reload the page and try again."),
    ({"variations-TOTAL_FORMS": 1, "variations-INITIAL_FORMS": 0, "variations-0-name": "default"},
     "The form arrived incomplete (a list of environment variables is missing); reload the page and try again."),
])
def test_an_incomplete_form_says_so_in_the_products_words(build, alice, data, message):
    page = logged_in(alice).post(CONFIGURE, {"action": "review", **data}).content.decode()

    assert message in page
    for generic in GENERIC_DJANGO_MESSAGES:
        assert generic not in page
    assert nothing_written()


# --- review: the builds and their schemas ---------------------------------------------------------------

SPECIES = [{"name": "species", "dtype": "int64"}]
PREDICTION = [{"name": "prediction", "dtype": "int64"}]
IRIS_INPUT = [{"name": "sepal_length", "dtype": "float64"}]


def test_review_names_each_build_with_its_upload_time_and_short_id(build, alice):
    page = logged_in(alice).post(CONFIGURE, form(build)).content.decode()

    assert f"<td>{build_cell(build)}</td><td>small</td>" in page
    assert str(build.build_id) in page  # on hover, in the title
    assert 'id="schema-warning"' not in page  # a first deployment changes no client's answers


def a_build_changing_species_to_prediction(iris_model: Model, build: Build) -> Build:
    build.input_schema, build.output_schema = IRIS_INPUT, SPECIES
    build.save()
    serving_deployment(iris_model, variation(build))
    return a_ready_build(iris_model, source_name="iris-v2.tar.gz", input_schema=IRIS_INPUT, output_schema=PREDICTION)


def test_a_build_with_another_schema_is_a_warning_to_acknowledge_before_deploy(iris_model, build, alice):
    newer = a_build_changing_species_to_prediction(iris_model, build)

    page = logged_in(alice).post(CONFIGURE, form(newer)).content.decode()

    warning = page[page.index('id="schema-warning"'):page.index("</section>")]
    assert "The new build answers in a different shape" in warning
    assert "<li>Output field species is gone</li>" in warning
    assert "<li>Output field prediction is new (int64)</li>" in warning
    assert "Input field" not in warning
    assert "iris-v2.tar.gz" in warning
    assert newer.short_id in warning
    assert build.short_id in warning
    assert 'name="accept_schema_change" id="acknowledge-schema" value="yes" required' in page


def test_deploy_is_refused_until_the_schema_change_is_acknowledged(iris_model, build, alice):
    newer = a_build_changing_species_to_prediction(iris_model, build)
    deployment = Deployment.objects.get()
    client = logged_in(alice)
    client.post(CONFIGURE, form(newer))

    refused = client.post(CONFIGURE, {"action": "deploy"})
    accepted = client.post(CONFIGURE, {"action": "deploy", "accept_schema_change": "yes"})

    assert refused.status_code == 400
    assert "Tick “I understand” to deploy a build whose schema differs." in refused.content.decode()
    assert 'aria-invalid="true"' in refused.content.decode()
    assert accepted.status_code == 302
    assert deployment.rollouts.count() == 2


def test_a_challenger_with_another_schema_is_compared_with_the_serving_build(iris_model, build, alice):
    newer = a_build_changing_species_to_prediction(iris_model, build)

    page = logged_in(alice).post(CONFIGURE, form(build, {"traffic_percent": 90}, {
        "name": "challenger", "build_id": str(newer.build_id), "traffic_percent": 10})).content.decode()

    assert "<li>Output field species is gone</li>" in page
    assert 'name="accept_schema_change"' in page


def test_a_build_with_the_same_schema_deploys_without_a_warning(iris_model, build, alice):
    build.output_schema = SPECIES
    build.save()
    serving_deployment(iris_model, variation(build))
    same = a_ready_build(iris_model, output_schema=SPECIES)
    client = logged_in(alice)

    page = client.post(CONFIGURE, form(same)).content.decode()

    assert 'id="schema-warning"' not in page
    assert "accept_schema_change" not in page
    assert f"<td>Build</td><td>{build_cell(build)}</td><td>{build_cell(same)}</td>" in page
    assert client.post(CONFIGURE, {"action": "deploy"}).status_code == 302


# --- a model with nothing to deploy -----------------------------------------------------------------

@pytest.mark.parametrize("url", [START, CONFIGURE])
def test_a_model_without_a_ready_build_says_why_and_links_to_uploading_one(iris_model, alice, url):
    a_ready_build(iris_model, status="building")

    response = logged_in(alice).get(url)

    page = response.content.decode()
    assert response.status_code == 200
    assert "iris has no ready build yet" in page
    assert "1 build is still being validated" in page
    assert 'href="/models/iris/#upload-build">Upload a build</a>' in page
    assert 'id="deploy-kind"' not in page
    assert 'id="deploy-form"' not in page
    assert "This field is required." not in page


def test_reviewing_without_a_ready_build_is_refused_with_the_reason(iris_model, alice):
    failed = a_ready_build(iris_model, status="failed")

    response = logged_in(alice).post(CONFIGURE, form(failed))

    assert response.status_code == 400
    assert "iris has no ready build yet" in response.content.decode()
    assert nothing_written()


# --- "environment" means environment variables; where a deployment runs is its stage ----------------

@pytest.mark.parametrize("step", ["start", "configure", "review"])
def test_the_deployments_environment_is_called_its_stage(build, alice, step):
    client = logged_in(alice)
    page = {"start": lambda: client.get(START), "configure": lambda: client.get(CONFIGURE),
            "review": lambda: client.post(CONFIGURE, form(build))}[step]().content.decode()

    assert 'Stage: <strong>production</strong>' in page
    assert "Environment" not in page.replace("Environment variables", "")


def test_each_environment_variable_input_has_a_name_for_screen_readers(build, alice):
    page = logged_in(alice).post(CONFIGURE, form(build, {"env": [{"name": "A", "value": "1"}, {"name": "B"}]},
                                                 action="add_env:0"), HTTP_HX_REQUEST="true").content.decode()

    for row in (1, 2, 3):
        for words in ("name", "value", "is secret"):
            assert f'aria-label="Environment variable {row} {words}"' in page
        assert f'aria-label="Remove environment variable {row}"' in page


def test_an_input_field_of_another_type_is_a_schema_change_too(iris_model, build, alice):
    build.input_schema = IRIS_INPUT
    build.save()
    serving_deployment(iris_model, variation(build))
    retyped = a_ready_build(iris_model, input_schema=[{"name": "sepal_length", "dtype": "int64"}])

    page = logged_in(alice).post(CONFIGURE, form(retyped)).content.decode()

    assert "<li>Input field sepal_length changes type: float64 → int64</li>" in page
    assert 'name="accept_schema_change"' in page
