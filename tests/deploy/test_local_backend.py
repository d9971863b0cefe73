"""LocalBackend driven directly against the session's real supervisord, without the rollout engine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from deployments.backends.base import ReplicaState, ReplicaStatus
from deployments.backends.local import LocalBackend
from deployments.backends.local_files import LaunchRecord
from deployments.backends.replica_id import ReplicaId
from deployments.models import Deployment, Model
from deployments.rollouts.spec import DeploySpec, validate_spec
from tests.deploy.test_lifecycle import spec as spec_data
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.processes import REPO, process_env
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)


def one_replica(model: Model) -> DeploySpec:
    return validate_spec(model, spec_data(ready_build(model)))


def wait_until_ready(backend: LocalBackend, deployment: Deployment, timeout_s: float = 60) -> list[ReplicaStatus]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = backend.replicas(deployment)
        if statuses and all(s.ready for s in statuses):
            return statuses
        time.sleep(0.2)
    raise AssertionError(f"not ready within {timeout_s} s: {statuses}")


def test_a_deployment_gets_its_gateway_port_back_when_deployed_again(supervisord, iris_model):
    backend, deployment, spec = LocalBackend.from_settings(), Deployment.objects.create(model=iris_model), \
        one_replica(iris_model)
    wanted = ReplicaId.of(deployment.pk, spec.variations[0], 0)

    assert backend.apply(deployment, spec) == [wanted]
    [replica] = wait_until_ready(backend, deployment)
    gateway = backend.route(deployment, spec)

    assert replica.id == wanted
    assert replica.name == wanted.name
    assert replica.state == ReplicaState.READY
    assert gateway.ready
    assert gateway.moved == ""
    assert httpx.post(f"{gateway.url}/v1/models/iris/predict", json=[IRIS_ROW]).json() == [{"species": 0}]

    backend.delete(deployment)
    assert backend.replicas(deployment) == []
    assert backend.gateway(deployment) is None

    deployment.gateway_port = gateway.port  # what the rollout engine stored
    backend.apply(deployment, spec)
    wait_until_ready(backend, deployment)
    again = backend.route(deployment, spec)

    assert (again.port, again.url, again.moved) == (gateway.port, gateway.url, "")
    assert httpx.post(f"{again.url}/v1/models/iris/predict", json=[IRIS_ROW]).json() == [{"species": 0}]


def test_a_gateway_whose_port_was_taken_moves_and_says_from_where(supervisord, iris_model):
    backend, deployment = LocalBackend.from_settings(), Deployment.objects.create(model=iris_model)
    empty = DeploySpec()  # routes to nothing: only the gateway runs
    first = backend.route(deployment, empty)
    backend.delete(deployment)

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.port))
        squatter.listen()
        deployment.gateway_port = first.port
        moved = backend.route(deployment, empty)

    assert moved.port != first.port
    assert moved.moved.startswith(f"Port {first.port} of this deployment's endpoint was taken by another program")
    now = backend.gateway(deployment)
    assert now is not None
    assert now.port == moved.port


def test_a_replica_whose_record_is_written_but_program_not_added_yet_is_starting(supervisord, iris_model):
    backend, deployment = LocalBackend.from_settings(), Deployment.objects.create(model=iris_model)
    files = backend.files(deployment)
    rid = ReplicaId(deployment.pk, "default", "0123abcd", 0)
    record = LaunchRecord(rid, f"unix:{files.socket_dir(rid)}/server.sock", "build", [sys.executable, "-c", "pass"], {}, {}, {},
                          str(files.starts_path(rid)))
    files.write_record(record)  # what apply() does first; supervisord is asked to add it next

    [starting] = backend.replicas(deployment)
    assert (starting.id, starting.state, starting.reason) == (rid, ReplicaState.STARTING, "being started")

    files.write_record(replace(record, removing=True))  # what prune() does before removing the program
    [removed] = backend.replicas(deployment)
    assert (removed.state, removed.reason) == (ReplicaState.STOPPED, "being removed")


def test_why_a_running_replica_restarted_comes_from_the_previous_process_lines():
    from deployments.backends.exit_reasons import previous_exit

    lines = ('{"ts":"2026-12-01T00:06:02.000Z","level":"info","event":"startup","pid":10}',
             '{"ts":"2026-12-01T00:06:03.000Z","level":"error","event":"model_load_failed","pid":10,'
             '"error":"ModelLoadError: cannot reach the feature store"}',
             '{"ts":"2026-12-01T00:06:04.000Z","level":"info","event":"startup","pid":11}',
             '{"ts":"2026-12-01T00:06:04.500Z","level":"info","event":"worker_started","pid":11}')
    info = {"name": "berth-d1-default-3f9a1c2e-0", "statename": "RUNNING", "pid": 11, "exitstatus": 0}
    main_log = "INFO exited: berth-d1-default-3f9a1c2e-0 (exit status 3; not expected)\n"

    end = previous_exit(info, lines, lambda: main_log)

    assert "exited with code 3: the model could not be loaded (ModelLoadError: cannot reach" in end.text
    assert "error model_load_failed" in end.text
    assert "worker_started" not in end.text  # the running process's lines are not why the last one ended


def test_a_replica_set_up_before_the_sandbox_is_refused_with_what_to_do(tmp_path):
    record = tmp_path / "replica.json"
    record.write_text(json.dumps({"argv": [sys.executable, "-c", "print('unconfined')"], "base_env": {}, "env": {},
                                  "secret_env": {}, "starts_file": str(tmp_path / "starts"), "port": 1}))

    launched = subprocess.run([sys.executable, "-m", "deployments.backends.launch", str(record)],  # noqa: S603
                              cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=60)

    assert launched.returncode == 78
    assert "unconfined" not in launched.stdout
    assert "redeploy the deployment to start it in one" in launched.stdout
