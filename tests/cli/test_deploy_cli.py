"""`berth models deploy realtime|scale|undeploy`, `berth deployments …` and RealTimeClient, against a live console."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from django.utils import timezone

from deployments.backends.base import ReplicaState, ReplicaStatus
from deployments.backends.local import LocalBackend
from deployments.backends.replica_id import desired_replicas
from deployments.models import (
    Deployment,
    DeploymentStatus,
    EventKind,
    Rollout,
    RolloutAction,
    RolloutEvent,
    RolloutStatus,
)
from deployments.models.instance_type import ensure_catalog
from deployments.rollouts.requests import deploy
from deployments.rollouts.spec import DeploySpec, validate_spec
from deployments.state.observer import observe
from tests.cli.run import berth
from tests.deploy.conftest import wait_for_rollout
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, an_active_rollout, serving_deployment, variation
from tests.fixtures.people import token_for
from tests.fixtures.runtime import CRASHES_ON_START, ready_build

pytestmark = pytest.mark.django_db(transaction=True)


# --- against the console only (no runtime): what is asked, and what is refused ----------------

def test_deploy_realtime_sends_qwak_flags_and_returns_at_once(live_console, iris_model, alice):
    build = a_ready_build(iris_model)

    result = berth("models", "deploy", "realtime", "--model-id", "iris", "--build-id", str(build.build_id),
                   "--pods", "2", "--instance", "medium", "--timeout", "3000", "--server-workers", "4",
                   "--variation-name", "default", "--daemon-mode", "false", "--env", "API_URL=https://x",
                   "--secret-env", "TOKEN=hunter2-secret", url=live_console, token=token_for(alice))

    assert result.code == 0, result.err
    rollout = Rollout.objects.get()
    assert f"Deploying build {build.build_id} of iris: revision 1 (rollout {rollout.pk})." in result.out
    assert "berth deployments status --model-id iris" in result.out
    spec = DeploySpec.from_json(rollout.spec).variations[0]
    assert (spec.replicas, spec.instance_type, spec.request_timeout_ms, spec.server_workers, spec.daemon_mode) == \
        (2, "medium", 3000, 4, False)
    assert spec.env[0].value == "https://x"
    assert spec.env[1].secret
    assert "hunter2" not in spec.env[1].value


def test_bad_flags_are_explained_per_field_and_nothing_is_written(live_console, iris_model, alice):
    build = a_ready_build(iris_model)

    result = berth("models", "deploy", "realtime", "--model-id", "iris", "--build-id", str(build.build_id),
                   "--pods", "0", "--instance", "huge", "--variation-name", "Bad_Name",
                   url=live_console, token=token_for(alice))

    assert result.failed_saying("variations.0.replicas: Must be from 1 to 100 (got 0)."), result.err
    assert "variations.0.instance_type: Unknown instance type 'huge'" in result.err
    assert "variations.0.name: Use 1-36 lowercase letters" in result.err
    assert not Rollout.objects.exists()


@pytest.mark.parametrize("flag", ["--daemon-mode", "--outbound-network"])
def test_a_bad_true_or_false_flag_is_refused_by_the_cli(live_console, iris_model, alice, flag):
    result = berth("models", "deploy", "realtime", "--model-id", "iris", "--build-id", "x", flag,
                   "maybe", url=live_console, token=token_for(alice))

    assert result.failed_saying("use true or false", code=2), result.err


def test_the_outbound_network_flag_reaches_the_api(live_console, iris_model, alice):
    build = a_ready_build(iris_model)

    result = berth("models", "deploy", "realtime", "--model-id", "iris", "--build-id", str(build.build_id),
                   "--outbound-network", "true", "--json", url=live_console, token=token_for(alice))

    assert result.code == 0, result.err
    assert result.json()["spec"]["variations"][0]["outbound_network"] is True
    assert DeploySpec.from_json(Rollout.objects.get().spec).variations[0].outbound_network


def test_leaving_the_outbound_network_flag_out_keeps_what_serves(live_console, iris_model, alice):
    serving_deployment(iris_model, variation(a_ready_build(iris_model), outbound_network=True))

    result = berth("models", "deploy", "realtime", "--model-id", "iris", "--pods", "2", url=live_console,
                   token=token_for(alice))

    assert result.code == 0, result.err
    spec = DeploySpec.from_json(Rollout.objects.get(revision=2).spec).variations[0]
    assert (spec.replicas, spec.outbound_network) == (2, True)


def two_variations(model) -> Deployment:
    build = a_ready_build(model)
    return serving_deployment(model, variation(build), variation(build, name="challenger", traffic_percent=0))


def split_of(rollout: Rollout) -> dict[str, int]:
    return {v.name: v.traffic_percent for v in DeploySpec.from_json(rollout.spec).variations}


@pytest.mark.parametrize("how", [
    ("deployments", "traffic", "--model-id", "iris", "--traffic", "default=80,challenger=20"),
    ("deployments", "traffic", "--model-id", "iris", "--variation-name", "challenger", "--traffic-percent", "20"),
    ("models", "deploy", "realtime", "--model-id", "iris", "--variation-name", "challenger", "--traffic-percent", "20"),
])
def test_an_80_20_split_takes_one_command(live_console, iris_model, alice, how):
    two_variations(iris_model)

    result = berth(*how, url=live_console, token=token_for(alice))

    assert result.code == 0, result.err
    assert split_of(Rollout.objects.get(revision=2)) == {"default": 80, "challenger": 20}


def test_the_traffic_command_says_what_it_splits(live_console, iris_model, alice):
    two_variations(iris_model)

    result = berth("deployments", "traffic", "--model-id", "iris", "--traffic", "challenger=20", url=live_console,
                   token=token_for(alice))

    assert result.succeeded_saying("Splitting the traffic of iris: default 80%, challenger 20%: revision 2"), \
        result.out + result.err


@pytest.mark.parametrize(("how", "said", "code"), [
    (("--traffic", "default=80,challenger=30"), "traffic: Shares must add up to 100% (these make 110%).", 1),
    (("--traffic", "default=80,nope=20"), "traffic.nope: No variation 'nope'; this deployment has: default, "
                                          "challenger.", 1),
    (("--traffic", "default=eighty"), "'default=eighty': write each variation once as NAME=PERCENT", 2),
    (("--traffic", "default=80,default=20"), "write each variation once as NAME=PERCENT", 2),
    (("--traffic-percent", "20"), "Give the split: --traffic default=80,challenger=20", 1),
    (("--traffic", "default=80", "--variation-name", "default", "--traffic-percent", "80"), "not both", 1),
])
def test_a_split_that_cannot_serve_is_refused_and_nothing_is_queued(live_console, iris_model, alice, how, said,
                                                                     code):
    two_variations(iris_model)

    result = berth("deployments", "traffic", "--model-id", "iris", *how, url=live_console, token=token_for(alice))

    assert result.failed_saying(said, code=code), result.err
    assert Rollout.objects.count() == 1


def test_a_running_rollout_makes_the_next_command_fail_with_the_reason(live_console, iris_model, alice):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)))
    active = an_active_rollout(deployment)
    token = token_for(alice)

    deploy = berth("models", "deploy", "realtime", "--model-id", "iris", "--pods", "3", url=live_console,
                   token=token)
    scale = berth("models", "scale", "--model-id", "iris", "--pods", "3", url=live_console, token=token)

    busy = f"Revision {active.revision} (deploy) is still in progress; wait until it finishes"
    for result in (deploy, scale):
        assert result.failed_saying(busy), result.err
    assert deployment.rollouts.count() == 2


def test_a_viewer_may_look_but_not_deploy_and_an_outsider_sees_nothing(live_console, iris_model, alice, bob,
                                                                        other_project, charlie):
    serving_deployment(iris_model, variation(a_ready_build(iris_model)))

    viewer_status = berth("deployments", "status", "--model-id", "iris", url=live_console, token=token_for(bob))
    viewer_scale = berth("models", "scale", "--model-id", "iris", "--pods", "3", url=live_console,
                         token=token_for(bob))
    outsider = berth("deployments", "status", "--model-id", "iris", url=live_console, token=token_for(charlie))
    outsider_undeploy = berth("models", "undeploy", "--model-id", "iris", url=live_console,
                              token=token_for(charlie))

    assert viewer_status.succeeded_saying("Status"), viewer_status.err
    assert viewer_scale.failed_saying("needs the deployer role"), viewer_scale.err
    assert outsider.failed_saying("has no production deployment"), outsider.err
    assert outsider_undeploy.code == 1
    assert Rollout.objects.count() == 1


def test_status_and_list_describe_the_deployment(live_console, iris_model, alice):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))
    token = token_for(alice)

    status = berth("deployments", "status", "--model-id", "iris", url=live_console, token=token)
    listed = berth("deployments", "list", url=live_console, token=token)
    as_json = berth("deployments", "status", "--model-id", "iris", "--json", url=live_console, token=token)

    assert status.code == 0, status.err
    assert "Endpoint          http://127.0.0.1:18080/v1/models/iris/predict" in status.out
    assert "Serving revision  1" in status.out
    assert "Replicas ready    " in status.out
    header, row = listed.out.splitlines()
    assert header.split() == ["ID", "MODEL_ID", "ENVIRONMENT", "STATUS", "REVISION", "ENDPOINT_URL", "UPDATED"]
    assert row.split()[:5] == [str(deployment.pk), "iris", "production", "running", "1"]
    assert as_json.json()["replicas"]["desired"] == 2


class StartingRuntime:
    """The runtime as it looks while a rollout's replicas load the model: each one is starting."""

    def __init__(self, spec: DeploySpec) -> None:
        self.spec = spec

    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        return [ReplicaStatus(id=rid, endpoint="unix:/tmp/server.sock", state=ReplicaState.STARTING,
                              reason="loading the model (3 s so far)")
                for rid in desired_replicas(deployment.pk, self.spec)]

    def gateway_problem(self, deployment: Deployment) -> str:
        return ""  # its gateway answers


def test_status_counts_the_replicas_a_first_rollout_starts_and_says_what_they_do(live_console, iris_model, alice):
    spec = validate_spec(iris_model, {"variations": [variation(a_ready_build(iris_model), replicas=2)]})
    deployment = Deployment.objects.create(model=iris_model)
    Rollout.objects.create(deployment=deployment, revision=1, spec=spec.to_json(), status=RolloutStatus.IN_PROGRESS,
                           started_at=timezone.now())
    observe(deployment, StartingRuntime(spec))  # type: ignore[arg-type]

    status = berth("deployments", "status", "--model-id", "iris", url=live_console, token=token_for(alice))

    assert status.code == 0, status.err
    assert re.search(r"^Replicas ready +0/2 of revision 1 \(2 starting\)$", status.out, re.MULTILINE), status.out
    rows = [line.split()[:3] for line in status.out.splitlines() if line.startswith("default ")]
    assert [row[1] for row in rows] == ["0/2", "0/2"]
    assert all(row[2].startswith("default-") for row in rows)


def test_scale_rollback_and_undeploy_queue_rollouts(celery_worker, live_console, iris_model, alice):
    """Each queued rollout is carried out by the worker before the next request (no runtime runs
    here, so they fail fast); none is left running into the next test's database."""
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=2)
    token = token_for(alice)

    scaled = berth("models", "scale", "--model-id", "iris", "--pods", "3", url=live_console, token=token)
    wait_for_rollout(deployment.rollouts.get(revision=3))
    back = berth("deployments", "rollback", "--model-id", "iris", "--revision", "1", url=live_console, token=token)
    wait_for_rollout(deployment.rollouts.get(revision=4))
    gone = berth("models", "undeploy", "--model-id", "iris", url=live_console, token=token)
    wait_for_rollout(deployment.rollouts.get(revision=5))

    assert scaled.succeeded_saying("Scaling iris/default to 3 pod(s): revision 3"), scaled.err
    assert back.succeeded_saying("Rolling iris back to revision 1: revision 4"), back.err
    assert gone.succeeded_saying("Undeploying iris: revision 5"), gone.err
    actions = list(deployment.rollouts.order_by("revision").values_list("action", flat=True))
    assert actions[2:] == [RolloutAction.SCALE, RolloutAction.ROLLBACK, RolloutAction.UNDEPLOY]


# --- end to end: a real rollout on the local runtime ------------------------------------------

def test_sync_deploy_serves_predictions_then_a_crashing_build_exits_non_zero(
        supervisord, celery_worker, live_console, iris_model, alice, monkeypatch, stop_what_was_deployed):
    ensure_catalog()
    good, broken = ready_build(iris_model), ready_build(iris_model, CRASHES_ON_START)
    token = token_for(alice)
    deploy = ("models", "deploy", "realtime", "--model-id", "iris", "--pods", "1", "--instance", "small",
              "--timeout", "5000", "--server-workers", "1", "--variation-name", "default", "--daemon-mode", "false")

    first = berth(*deploy, "--build-id", str(good.build_id), "--sync", url=live_console, token=token)

    assert first.code == 0, first.out + first.err
    deployment = Deployment.objects.get(model=iris_model)
    assert f"Revision 1 succeeded. iris serves at {deployment.predict_url}" in first.out
    assert "replica_ready" in first.out
    assert "traffic_switched" in first.out

    monkeypatch.setenv("BERTH_URL", live_console)
    monkeypatch.setenv("BERTH_TOKEN", token)
    monkeypatch.delenv("BERTH_GATEWAY_URL", raising=False)
    from berth import RealTimeClient

    with RealTimeClient(model_id="iris") as client:
        frame = client.predict([IRIS_ROW, IRIS_ROW])
        single = client.predict(IRIS_ROW)
        from_frame = client.predict(pd.DataFrame([IRIS_ROW]))
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("records") == [{"species": 0}, {"species": 0}]
    assert single.to_dict("records") == from_frame.to_dict("records") == [{"species": 0}]
    direct = RealTimeClient(model_id="iris", variation="default", url=deployment.gateway_url)
    assert direct.predict(IRIS_ROW).to_dict("records") == [{"species": 0}]

    failed = berth(*deploy, "--build-id", str(broken.build_id), "--sync", url=live_console, token=token)

    assert failed.failed_saying("revision 2 failed:"), failed.err
    assert "keeps crashing" in failed.err
    assert "the previous revision keeps serving" in failed.err
    status = berth("deployments", "status", "--model-id", "iris", url=live_console, token=token)
    assert "Serving revision  1" in status.out

    gone = berth("models", "undeploy", "--model-id", "iris", "--sync", url=live_console, token=token)
    assert gone.code == 0, gone.err
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED


def test_sync_traffic_split_waits_for_the_gateway_to_weigh_it_and_starts_no_replica(
        supervisord, celery_worker, live_console, iris_model, alice, stop_what_was_deployed):
    ensure_catalog()
    build = ready_build(iris_model)
    first = wait_for_rollout(deploy(iris_model, {"variations": [
        variation(build, replicas=1, server_workers=1), variation(build, name="challenger", replicas=1,
                                                                  server_workers=1, traffic_percent=0)]}, alice))
    assert first.status == RolloutStatus.SUCCEEDED, first.reason

    split = berth("deployments", "traffic", "--model-id", "iris", "--traffic", "default=80,challenger=20", "--sync",
                  url=live_console, token=token_for(alice))

    assert split.succeeded_saying("Revision 2 succeeded."), split.out + split.err
    assert "Traffic goes to revision 2: default 80%, challenger 20%." in split.out
    second = Rollout.objects.get(revision=2)
    assert (second.status, second.attempts) == (RolloutStatus.SUCCEEDED, 1)
    assert not second.events.filter(kind=EventKind.REPLICA_STARTED).exists()
    routes = json.loads(LocalBackend.from_settings().files(second.deployment).routes_path.read_text())
    assert {v["name"]: v["traffic_percent"] for v in routes["variations"]} == {"default": 80, "challenger": 20}


def test_realtime_client_says_when_a_model_is_not_deployed(live_console, iris_model, alice, monkeypatch):
    monkeypatch.setenv("BERTH_URL", live_console)
    monkeypatch.setenv("BERTH_TOKEN", token_for(alice))
    monkeypatch.delenv("BERTH_GATEWAY_URL", raising=False)
    from berth import RealTimeClient
    from berth.client import BerthError

    with pytest.raises(BerthError, match="has no production deployment"):
        RealTimeClient(model_id="iris").predict(IRIS_ROW)


# --- lists are paginated: the client follows every page ----------------------------------------

def test_the_client_reads_every_page_of_rollouts_and_events(live_console, iris_model, alice):
    from berth import deploy_client
    from berth.client import BerthClient

    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=3)
    rollout = deployment.current_rollout
    assert rollout is not None
    RolloutEvent.objects.bulk_create(RolloutEvent(deployment=deployment, rollout=rollout, kind=EventKind.SCALED,
                                                  message=f"event {n}") for n in range(250))
    with BerthClient(url=live_console, token=token_for(alice)) as client:
        events = deploy_client.rollout_events(client, rollout.pk)
        newer = deploy_client.rollout_events(client, rollout.pk, after=events[-2]["id"])
        revisions = [r["revision"] for r in deploy_client.rollouts(client, deployment.pk)]

    assert len(events) == 251  # "Revision 3 serves." and 250 more, over three pages of 100
    assert [e["message"] for e in newer] == ["event 249"]
    assert revisions == [3, 2, 1]
