"""Reading the chart series from a real Prometheus server (PROMETHEUS_URL) that scrapes a replica's metrics.

The scraped target serves model-server series whose counters grow at fixed rates with the wall
clock (22 predict requests a second, 2 of them 500s), so every rate Prometheus computes is that
rate whenever it scrapes; the test waits for points, never for a duration. Needs the
`prometheus` binary (Debian/Ubuntu package `prometheus`), which `make test` installs.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from deployments.backends.ports import free_port
from deployments.models import Deployment, Model
from monitoring.prometheus_source import PrometheusSource, promql
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.processes import RunningProcess, process_env, start_process

pytestmark = pytest.mark.django_db
DEADLINE_S = 90
WINDOW_S = 5
STARTED = time.time()


def exposition() -> bytes:
    """Counters at this moment: 20 ok + 2 failed predict requests a second, 10 of them under 10 ms, 20 under 100 ms."""
    t = time.time() - STARTED
    return f"""# TYPE berth_requests_total counter
berth_requests_total{{code="200",path="/v1/predict"}} {20 * t}
berth_requests_total{{code="500",path="/v1/predict"}} {2 * t}
berth_requests_total{{code="200",path="/health/ready"}} {50 * t}
# TYPE berth_request_duration_seconds histogram
berth_request_duration_seconds_bucket{{le="0.01",path="/v1/predict"}} {10 * t}
berth_request_duration_seconds_bucket{{le="0.1",path="/v1/predict"}} {20 * t}
berth_request_duration_seconds_bucket{{le="+Inf",path="/v1/predict"}} {22 * t}
berth_request_duration_seconds_count{{path="/v1/predict"}} {22 * t}
berth_request_duration_seconds_sum{{path="/v1/predict"}} {0.5 * t}
# TYPE berth_batch_size histogram
berth_batch_size_bucket{{le="+Inf"}} {11 * t}
berth_batch_size_count {11 * t}
berth_batch_size_sum {22 * t}
# TYPE berth_process_cpu_seconds_total counter
berth_process_cpu_seconds_total{{pid="1",role="parent"}} {0.25 * t}
# TYPE berth_process_resident_memory_bytes gauge
berth_process_resident_memory_bytes{{pid="1",role="parent"}} 500000000
# TYPE berth_model_ready gauge
berth_model_ready{{worker="0"}} 1
""".encode()


class Replica(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = exposition()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=3))


@pytest.fixture
def replica() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def prometheus(deployment: Deployment, replica: int, tmp_path: Path) -> Iterator[str]:
    """A Prometheus scraping `replica` every second, labelled as `deployment`'s default variation."""
    binary = shutil.which("prometheus")
    assert binary is not None, "the prometheus binary is missing: make test installs Debian's prometheus package"
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: berth
    static_configs:
      - targets: ["127.0.0.1:{replica}"]
        labels: {{berth_deployment: "{deployment.pk}", berth_variation: default}}
""")
    url = f"http://127.0.0.1:{free_port()}"
    server = start_process([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                            f"--web.listen-address={url.removeprefix('http://')}"], tmp_path / "prometheus.log",
                           process_env())
    try:
        wait_until_ready(url, server)
        yield url
    finally:
        server.stop()


def wait_until_ready(url: str, server: RunningProcess) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("Prometheus did not start:\n" + server.log()[-3000:])
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def one_second_points(settings) -> None:
    """Points a second apart over a 5 s rate window: Prometheus here scrapes every second."""
    settings.BERTH_METRICS_SCRAPE_S = 1
    settings.PROMETHEUS_RATE_WINDOW_S = WINDOW_S


def window_full(url: str) -> bool:
    """Has Prometheus scraped the replica all through the last rate window (so no rate is of a partial one)?"""
    query = f"count_over_time(berth_requests_total{{code=\"500\"}}[{WINDOW_S}s])"
    result = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) >= WINDOW_S


def wait_for_points(source: PrometheusSource, deployment: Deployment, variation: str = "") -> dict:
    """The latest value of each metric, once Prometheus holds a full rate window of scrapes."""
    deadline = time.monotonic() + DEADLINE_S
    while not window_full(source.url):
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus did not scrape the replica through {WINDOW_S} s within {DEADLINE_S} s")
        time.sleep(0.5)
    series = source.read(deployment, "15m", timezone.now(), variation)
    return {name: values[-1] for name, values in series.metrics.items() if values}


def test_the_series_read_from_prometheus_mean_what_the_stored_ones_do(prometheus, deployment):
    latest = wait_for_points(PrometheusSource(prometheus), deployment)

    # Rates: a late scrape (a busy machine) makes Prometheus extrapolate less, never more, so bounds;
    # ratios of rates over the same window are exact whatever the scrape timing.
    assert 11 < latest["throughput_rps"] <= 22 * 1.02  # predict requests only: 72 with the health checks
    assert 12.5 < latest["cpu_pct"] <= 25 * 1.02
    assert latest["error_rate_5xx_pct"] == pytest.approx(100 * 2 / 22, rel=0.01)
    assert latest["error_rate_4xx_pct"] is None  # no 4xx series at all: no data, not 0
    assert latest["latency_p50_ms"] == pytest.approx(10 + 90 * (11 - 10) / 10, rel=0.01)  # in the 10-100 ms bucket
    assert 10 < latest["latency_p95_ms"] <= 100
    assert latest["latency_p99_ms"] == 100  # in the +Inf bucket: the highest finite bound, as stored points say
    assert latest["memory_bytes"] == 5e8
    assert latest["batch_size_mean"] == pytest.approx(2, rel=0.01)
    assert (latest["ready_replicas"], latest["desired_replicas"]) == (1, 3)


def test_another_variation_has_no_data_there(prometheus, deployment):
    wait_for_points(PrometheusSource(prometheus), deployment, "default")
    series = PrometheusSource(prometheus).read(deployment, "15m", timezone.now(), "challenger")
    assert series.times == []


def test_the_metrics_api_reads_prometheus_when_prometheus_url_is_set(prometheus, deployment, bob, settings):
    wait_for_points(PrometheusSource(prometheus), deployment)
    settings.PROMETHEUS_URL = prometheus
    body = api_as(bob).get(f"/api/v1/deployments/{deployment.pk}/metrics/?range=15m").json()
    assert body["times"]
    assert body["metrics"]["error_rate_5xx_pct"][-1] == pytest.approx(100 * 2 / 22, rel=0.01)


def test_the_metrics_api_says_when_prometheus_does_not_answer(deployment, bob, settings):
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    response = api_as(bob).get(f"/api/v1/deployments/{deployment.pk}/metrics/")
    assert response.status_code == 503
    assert settings.PROMETHEUS_URL in response.json()["detail"]


def test_a_variation_selects_by_its_label() -> None:
    assert promql("throughput_rps", 7, "challenger", 60) == \
        'sum(rate(berth_requests_total{berth_deployment="7",berth_variation="challenger",path="/v1/predict"}[60s]))'
    assert promql("memory_bytes", 7, "", 60) == 'sum(berth_process_resident_memory_bytes{berth_deployment="7"})'


def test_prometheus_that_does_not_answer_is_an_error_saying_where(deployment) -> None:
    from monitoring.prometheus_source import PrometheusError

    with pytest.raises(PrometheusError, match="did not answer"):
        PrometheusSource(f"http://127.0.0.1:{free_port()}").read(deployment, "15m", timezone.now())

