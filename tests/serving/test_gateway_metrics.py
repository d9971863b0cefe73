"""The gateway's /metrics as a scraper meets it: a real gateway process in front of a real model server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import echo_replica, free_port

GOOD = [{"x": 1, "sleep_ms": 0}]
BAD = [{"x": "not a number", "sleep_ms": 0}]


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with echo_replica(tmp_path_factory.mktemp("gateway-metrics")) as server:
        yield server.base


@pytest.fixture
def gateway(tmp_path: Path, replica: str) -> Iterator[GatewayProcess]:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    process = GatewayProcess(tmp_path)
    process.write_routes("v7", default=(100, [replica]), broken=(0, [dead]))
    yield process.start()
    process.stop()


def samples(gateway: GatewayProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(gateway.url("/metrics"), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_variation_and_status_class_with_their_latencies(gateway):
    for _ in range(6):
        assert httpx.post(gateway.url("/v1/models/echo/predict"), json=GOOD, timeout=10).status_code == 200
    for _ in range(2):
        assert httpx.post(gateway.url("/v1/models/echo/predict"), json=BAD, timeout=10).status_code == 422
    assert httpx.post(gateway.url("/v1/models/echo/broken/predict"), json=GOOD, timeout=10).status_code == 502
    assert httpx.post(gateway.url("/v1/models/churn/predict"), json=GOOD, timeout=10).status_code == 404
    httpx.get(gateway.url("/health/ready"), timeout=10)  # neither health checks nor scrapes count

    found = samples(gateway)

    assert value(found, "berth_gateway_requests_total", variation="default", code="2xx") == 6
    assert value(found, "berth_gateway_requests_total", variation="default", code="4xx") == 2
    assert value(found, "berth_gateway_requests_total", variation="broken", code="5xx") == 1
    assert value(found, "berth_gateway_requests_total", variation="", code="4xx") == 1  # refused before routing
    assert sum(v for (name, _), v in found.items() if name == "berth_gateway_requests_total") == 10
    assert value(found, "berth_gateway_request_duration_seconds_count", variation="default") == 8
    assert value(found, "berth_gateway_request_duration_seconds_bucket", variation="default", le="+Inf") == 8
    assert 0 < value(found, "berth_gateway_request_duration_seconds_sum", variation="default") < 8 * 10
    # the dead replica was tried twice (the request and its retry on the next replica, the same one)
    assert value(found, "berth_gateway_upstream_errors_total", variation="broken", error="connection_failed") == 2
    assert value(found, "berth_gateway_requests_in_flight") == 0
    assert value(found, "berth_gateway_config_info", version="v7") == 1
    assert value(found, "berth_gateway_start_time_seconds") > 0


def test_a_new_routing_config_shows_its_version(gateway, replica):
    gateway.write_routes("v8", default=(100, [replica]))
    gateway.wait_for_version("v8")
    found = samples(gateway)
    assert value(found, "berth_gateway_config_info", version="v8") == 1
    assert value(found, "berth_gateway_config_info", version="v7") == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_metrics_answer_get_only(gateway, method):
    response = httpx.request(method, gateway.url("/metrics"), timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {"error": f"/metrics answers GET only, not {method}", "status": 405}
    assert response.headers["x-request-id"]
