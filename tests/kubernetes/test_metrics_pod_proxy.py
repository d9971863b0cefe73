"""Metrics on Kubernetes: the console's real scrape task reads every model-server pod's and every gateway pod's
`/metrics` through the API server's pod proxy, with the kubeconfig's bearer token, and stores the points.

The deployment is made by the real rollout engine through the Kubernetes adapter and the `kubernetes` client
against the API stand-in (tests/kubernetes/stand_in). The stand-in forwards each pod's proxy to a real process
of this test, as the API server forwards to the pod: an echo model server (`python -m serving.server`) behind
each model-server pod, and a real gateway (`python -m serving.gateway`) behind each of the two gateway pods,
routing to those servers (in a cluster it routes to the variation's Service). Requests go to the gateways
directly, as clients in the cluster would send them to the gateway's Service.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.endpoint_keys.last_used import note_uses
from deployments.models import Deployment, EndpointKey, Model, RolloutStatus
from deployments.rollouts.requests import deploy
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint, ScrapeSnapshot
from monitoring.tasks import scrape_metrics
from tests.fixtures.deployments import a_ready_build, variation
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import StandInCluster
from tests.kubernetes.test_backend_rollouts import NAMESPACE, run
from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import ServerProcess, write_echo_bundle

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
PORT = 8080  # the containers' port (deployments/backends/kubernetes/inputs.py CONTAINER_PORT)
SCRAPE_S = 2  # BERTH_METRICS_SCRAPE_S here: the task scrapes a deployment again after half of it
DEADLINE_S = 30


@pytest.fixture(scope="module")
def model_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two echo model servers: the processes behind the two model-server pods."""
    tmp = tmp_path_factory.mktemp("pod-servers")
    bundle = write_echo_bundle(tmp / "echo")
    servers = [ServerProcess(bundle, tmp, "--workers", "1", "--max-batch-size", "1") for _ in range(2)]
    try:
        yield [server.wait_ready().base for server in servers]
    finally:
        for server in servers:
            server.stop()


@dataclass
class Served:
    deployment: Deployment
    cluster: StandInCluster
    servers: list[str]
    gateways: dict[str, GatewayProcess]  # by gateway pod
    replica_pods: list[str]
    tmp: Path

    def gateway(self, index: int) -> GatewayProcess:
        return self.gateways[sorted(self.gateways)[index]]

    def restart_gateway(self, index: int, keys: list[dict[str, Any]] | None = None) -> GatewayProcess:
        """The gateway pod's container restarted: a new gateway process (new start time) behind the same pod."""
        pod = sorted(self.gateways)[index]
        self.gateways[pod].stop()
        self.gateways[pod] = started_gateway(self.tmp / f"{pod}-{time.monotonic_ns()}", self.servers, keys)
        self.cluster.server.proxied[(NAMESPACE, pod, PORT)] = self.gateways[pod].url("")
        return self.gateways[pod]


def started_gateway(tmp: Path, servers: list[str], keys: list[dict[str, Any]] | None = None) -> GatewayProcess:
    tmp.mkdir(parents=True)
    process = GatewayProcess(tmp)
    config: dict[str, Any] = {"version": "v1", "model_id": "echo", "variations": [
        {"name": "default", "traffic_percent": 100, "timeout_ms": 2000, "endpoints": servers}]}
    if keys is not None:
        config["endpoint_keys"] = keys
    process.routes.write_text(json.dumps(config))
    return process.start()


def pod_names(cluster: StandInCluster, component: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cluster.pods(NAMESPACE, f"app.kubernetes.io/component={component}"))


@pytest.fixture
def served(on_stand_in: StandInCluster, iris_model: Model, alice: Any, model_servers: list[str], tmp_path: Path,
           settings: Any) -> Iterator[Served]:
    """A deployment of two replicas running on the stand-in, each pod's port forwarded to a real process."""
    settings.BERTH_METRICS_SCRAPE_S = SCRAPE_S
    rollout = run(deploy(iris_model, {"variations": [variation(a_ready_build(iris_model), replicas=2)]}, alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    replica_pods = pod_names(on_stand_in, "model-server")
    gateway_pods = pod_names(on_stand_in, "gateway")
    assert (len(replica_pods), len(gateway_pods)) == (2, 2)
    for pod, server in zip(replica_pods, model_servers, strict=True):
        on_stand_in.server.proxied[(NAMESPACE, pod, PORT)] = server
    gateways = {}
    try:
        for pod in gateway_pods:
            gateways[pod] = started_gateway(tmp_path / pod, model_servers)
            on_stand_in.server.proxied[(NAMESPACE, pod, PORT)] = gateways[pod].url("")
        deployment = rollout.deployment
        deployment.refresh_from_db()
        yield Served(deployment, on_stand_in, model_servers, gateways, replica_pods, tmp_path)
    finally:
        for process in gateways.values():
            process.stop()


def scrape_round() -> int:
    """The periodic task's run, once its interval's half has passed since the last (the task skips sooner ones)."""
    time.sleep(SCRAPE_S / 2 + 0.05)
    return scrape_metrics()


def counted(deployment: Deployment, variation: str = WHOLE_DEPLOYMENT) -> tuple[int, int]:
    """(requests, 4xx answers) of the stored points of `variation` (default: the whole deployment)."""
    points = MetricPoint.objects.filter(deployment=deployment, variation=variation)
    return round(sum(p.requests for p in points)), round(sum(p.errors_4xx for p in points))


def scrape_until(deployment: Deployment, requests: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while counted(deployment)[0] < requests and time.monotonic() < deadline:
        scrape_round()


def predict(gateway: GatewayProcess, times: int, path: str = "/v1/models/echo/predict", **headers: str) -> None:
    for _ in range(times):
        gateway.predict(path, **headers)


def test_the_scrape_task_reads_every_replica_and_gateway_pod_through_the_pod_proxy(served: Served) -> None:
    deployment = served.deployment
    scrape_round()  # the baselines
    assert not MetricPoint.objects.filter(deployment=deployment).exists()
    predict(served.gateway(0), 5)
    predict(served.gateway(1), 3)
    predict(served.gateway(1), 1, "/v1/models/echo/nope/predict")  # refused by the gateway: never reaches a replica

    scrape_until(deployment, 9)

    assert counted(deployment) == (9, 1), "both gateway pods' requests, the one each refused itself included"
    assert counted(deployment, "default") == (8, 0), "the replicas' own counts, read through their pods"
    default = MetricPoint.objects.filter(deployment=deployment, variation="default").latest("time")
    assert (default.memory_bytes or 0) > 0
    kept = set(ScrapeSnapshot.objects.get(deployment=deployment).samples)
    assert kept == {r["name"] for r in deployment.observed["replicas"]} | {f"@gateway:{pod}" for pod in served.gateways}
    assert not served.cluster.server.refused


def test_a_gateway_pod_restarted_is_counted_from_its_new_start(served: Served) -> None:
    deployment = served.deployment
    scrape_round()
    predict(served.gateway(0), 2)
    scrape_until(deployment, 2)
    assert counted(deployment)[0] == 2
    restarted = served.restart_gateway(0)
    predict(restarted, 5)  # the new process counts past the old one's 2 before the next scrape

    scrape_until(deployment, 7)

    assert counted(deployment)[0] == 7


def test_a_scrape_without_the_clusters_token_reads_nothing(served: Served, settings: Any, tmp_path: Path) -> None:
    """The API server refuses the pod proxy to a caller it cannot authenticate: no figure is read or stored."""
    kubeconfig = yaml.safe_load(Path(settings.BERTH_KUBECONFIG).read_text())
    del kubeconfig["users"][0]["user"]["token"]
    tokenless = tmp_path / "kubeconfig-without-token"
    tokenless.write_text(yaml.safe_dump(kubeconfig))
    settings.BERTH_KUBECONFIG = str(tokenless)

    scrape_round()
    predict(served.gateway(0), 3)
    scrape_round()

    points = MetricPoint.objects.filter(deployment=served.deployment)
    assert counted(served.deployment) == (0, 0)
    assert not any(p.memory_bytes for p in points), "no replica's figures either"
    assert ScrapeSnapshot.objects.get(deployment=served.deployment).samples == {}
    refused = {path.split("/")[6] for path in served.cluster.server.refused}
    assert refused == {f"{pod}:{PORT}" for pod in [*served.replica_pods, *served.gateways]}


def test_a_keys_last_use_is_read_from_the_gateway_pod_that_accepted_it(served: Served, alice: Any) -> None:
    key, raw = EndpointKey.issue(served.deployment.model.project, "billing", alice)
    accepted = [{"id": str(key.pk), "sha256": hashlib.sha256(raw.encode()).hexdigest(), "expires_at": None}]
    gateway = served.restart_gateway(1, keys=accepted)
    assert gateway.predict(Authorization=f"Bearer {raw}").status_code == 200

    assert note_uses() == 1

    key.refresh_from_db()
    assert key.last_used_at is not None
