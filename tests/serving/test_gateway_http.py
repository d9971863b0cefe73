"""The gateway as clients meet it: a real gateway process in front of real model servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving.test_server_http import ROOT, ServerProcess, free_port, write_echo_bundle

ROW = {"x": 1, "sleep_ms": 0}


class GatewayProcess:
    """`python -m serving.gateway` on a free port, reading a routes file the test writes."""

    def __init__(self, tmp: Path) -> None:
        self.routes = tmp / "routes.json"
        self.port = free_port()
        self.log_path = tmp / "gateway.log"

    def write_routes(self, version: str, **variations: tuple[int, list[str]]) -> None:
        items = [{"name": name, "traffic_percent": percent, "timeout_ms": 2000, "endpoints": endpoints}
                 for name, (percent, endpoints) in variations.items()]
        self.routes.write_text(json.dumps({"version": version, "model_id": "echo", "variations": items}))

    def start(self, *args: str, preexec_fn: Callable[[], None] | None = None) -> GatewayProcess:
        """Run the gateway with these extra flags, until it serves the routes written."""
        command = [sys.executable, "-m", "serving.gateway", "--config", str(self.routes), "--port", str(self.port),
                   *args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this Python running our own gateway
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        self.wait_for_version(json.loads(self.routes.read_text())["version"])
        return self

    def wait_for_version(self, version: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gateway exited:\n{self.log_path.read_text()}"
            try:
                if httpx.get(self.url("/health/ready"), timeout=2).json().get("config_version") == version:
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway never served routes {version}:\n{self.log_path.read_text()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def predict(self, path: str = "/v1/models/echo/predict", **headers: str) -> httpx.Response:
        return httpx.post(self.url(path), json=[ROW], headers=headers, timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("gateway-replicas")
    bundle = write_echo_bundle(tmp / "echo")
    servers = [ServerProcess(bundle, tmp, "--workers", "1", "--max-batch-size", "1") for _ in range(2)]
    for server in servers:
        server.wait_ready()
    yield servers[0].base, servers[1].base
    for server in servers:
        server.stop()


@pytest.fixture
def gateway(tmp_path: Path, replicas: tuple[str, str]) -> Iterator[GatewayProcess]:
    first, second = replicas
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    process = GatewayProcess(tmp_path)
    process.write_routes("v1", default=(75, [first, dead]), challenger=(25, [second]))
    yield process.start()
    process.stop()


def test_traffic_follows_the_weights_and_a_dead_replica_costs_no_request(gateway):
    responses = [gateway.predict() for _ in range(200)]
    assert [r.status_code for r in responses] == [200] * 200
    assert all(r.json() == [{"x": 1, "batch_size": 1}] for r in responses)
    served = Counter(r.headers["x-berth-variation"] for r in responses)
    assert set(served) == {"default", "challenger"}
    assert 0.6 < served["default"] / 200 < 0.9
    assert "upstream_failed" in gateway.log_path.read_text(), "the dead replica was never tried, so never retried"


def test_a_caller_key_always_lands_on_the_same_variation(gateway):
    for key in ("user-1", "user-2", "user-3", "user-4"):
        assert len({gateway.predict(**{"x-berth-key": key}).headers["x-berth-variation"] for _ in range(15)}) == 1


def test_a_variation_can_be_called_by_name_and_unknown_names_are_explained(gateway):
    direct = gateway.predict("/v1/models/echo/challenger/predict")
    assert direct.status_code == 200
    assert direct.headers["x-berth-variation"] == "challenger"
    unknown = gateway.predict("/v1/models/echo/canary/predict")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no variation 'canary'; this deployment has: default, challenger"
    other_model = gateway.predict("/v1/models/churn/predict")
    assert other_model.status_code == 404
    assert "serves model echo, not churn" in other_model.json()["error"]


def test_new_routes_take_effect_without_a_restart(gateway, replicas):
    gateway.write_routes("v2", challenger=(100, [replicas[1]]))
    gateway.wait_for_version("v2")
    assert {gateway.predict().headers["x-berth-variation"] for _ in range(20)} == {"challenger"}


def test_a_sighup_reloads_routes_even_when_the_file_looks_unchanged(gateway, replicas):
    before = gateway.routes.stat().st_mtime_ns
    gateway.write_routes("v3", challenger=(100, [replicas[1]]))
    os.utime(gateway.routes, ns=(before, before))
    time.sleep(1.5)  # the watcher looks at the file once a second and sees the old time
    assert httpx.get(gateway.url("/health/ready")).json()["config_version"] == "v1"
    gateway.process.send_signal(signal.SIGHUP)
    gateway.wait_for_version("v3")
    assert gateway.predict().headers["x-berth-variation"] == "challenger"


def test_concurrent_callers_on_kept_alive_connections_all_get_their_answers(gateway):
    def caller(n: int) -> list[tuple[int, object]]:
        with httpx.Client(base_url=gateway.url(""), timeout=10) as client:  # one connection, kept alive
            return [(r.status_code, r.json()) for r in
                    (client.post("/v1/models/echo/predict", json=[{"x": n * 10 + i, "sleep_ms": 0}]) for i in range(5))]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(caller, range(16)))
    assert answers == [[(200, [{"x": n * 10 + i, "batch_size": 1}]) for i in range(5)] for n in range(16)]


def test_a_variation_with_no_reachable_replica_answers_502_and_the_gateway_stays_up(tmp_path):
    gateway = GatewayProcess(tmp_path)
    gateway.write_routes("v1", default=(100, [f"http://127.0.0.1:{free_port()}"]))
    gateway.start()
    try:
        response = gateway.predict()
        assert response.status_code == 502
        assert response.json() == {"error": "no replica of variation default could be reached", "status": 502}
        assert httpx.get(gateway.url("/health/live")).status_code == 200
    finally:
        gateway.stop()
