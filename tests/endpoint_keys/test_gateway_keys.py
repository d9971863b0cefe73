"""The gateway checks endpoint keys itself: a real gateway process in front of a real model server."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.endpoint_keys import KeyRefused, KeyRing
from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import echo_replica

GOOD, OTHER, OLD = "bek_" + "a" * 43, "bek_" + "b" * 43, "bek_" + "c" * 43


def accepted(key_id: str, raw: str, expires_at: float | None = None) -> dict[str, object]:
    return {"id": key_id, "sha256": hashlib.sha256(raw.encode()).hexdigest(), "expires_at": expires_at}


def write_routes(gateway: GatewayProcess, version: str, replica: str, keys: list[dict[str, object]] | None) -> None:
    config: dict[str, object] = {"version": version, "model_id": "echo", "variations": [
        {"name": "default", "traffic_percent": 100, "timeout_ms": 2000, "endpoints": [replica]}]}
    if keys is not None:
        config["endpoint_keys"] = keys
    gateway.routes.write_text(json.dumps(config))


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with echo_replica(tmp_path_factory.mktemp("keys-replica"), "--max-batch-size", "1") as server:
        yield server.base


@pytest.fixture
def gateway(tmp_path: Path, replica: str) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path)
    write_routes(process, "v1", replica, [accepted("1", GOOD), accepted("2", OLD, expires_at=time.time() - 60)])
    yield process.start()
    process.stop()


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_a_predict_call_without_a_key_gets_401_json_saying_what_to_send(gateway):
    answer = gateway.predict()
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    body = answer.json()
    assert body["status"] == 401
    assert "Authorization: Bearer" in body["error"]


def test_a_wrong_key_and_another_scheme_are_refused(gateway):
    for headers in (bearer(OTHER), {"Authorization": f"Basic {GOOD}"}, {"X-Berth-Key": GOOD}):
        answer = gateway.predict(**headers)
        assert answer.status_code == 401, headers
        assert answer.json()["status"] == 401


def test_a_valid_key_predicts_and_the_scheme_is_case_insensitive(gateway):
    assert gateway.predict(**bearer(GOOD)).status_code == 200
    assert gateway.predict(Authorization=f"bearer {GOOD}").status_code == 200


def test_an_expired_key_is_refused_saying_it_expired(gateway):
    answer = gateway.predict(**bearer(OLD))
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]


def test_health_and_metrics_need_no_key_and_metrics_count_uses_per_key(gateway):
    assert httpx.get(gateway.url("/health/ready"), timeout=5).status_code == 200
    assert gateway.predict(**bearer(GOOD)).status_code == 200
    metrics = httpx.get(gateway.url("/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert 'berth_gateway_endpoint_key_requests_total{key_id="1"} 1' in metrics.text
    assert 'berth_gateway_endpoint_key_last_used_seconds{key_id="1"}' in metrics.text
    assert 'key_id="2"' not in metrics.text


def test_a_key_left_out_of_new_routes_stops_working_once_they_are_loaded(gateway, replica):
    assert gateway.predict(**bearer(GOOD)).status_code == 200
    write_routes(gateway, "v2", replica, [accepted("3", OTHER)])
    gateway.wait_for_version("v2")
    assert gateway.predict(**bearer(GOOD)).status_code == 401
    assert gateway.predict(**bearer(OTHER)).status_code == 200


def test_routes_without_endpoint_keys_need_no_key(gateway, replica):
    write_routes(gateway, "v2", replica, None)
    gateway.wait_for_version("v2")
    assert gateway.predict().status_code == 200


def test_a_malformed_key_list_is_rejected_and_the_previous_routes_stay(gateway, replica):
    gateway.routes.write_text(json.dumps({"version": "v2", "model_id": "echo", "variations": [],
                                          "endpoint_keys": [{"id": "9", "sha256": "not hex"}]}))
    deadline = time.monotonic() + 20
    while "routes_rejected" not in gateway.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "routes_rejected" in gateway.log_path.read_text()
    assert gateway.predict(**bearer(GOOD)).status_code == 200


def test_the_key_ring_compares_every_key_and_names_no_key_in_its_refusal():
    ring = KeyRing.from_config({"endpoint_keys": [accepted("1", GOOD), accepted("2", OTHER)]})
    assert ring is not None
    assert ring.check([(b"authorization", f"Bearer {OTHER}".encode())]) == "2"
    with pytest.raises(KeyRefused) as refused:
        ring.check([(b"authorization", b"Bearer bek_guess")])
    assert "bek_guess" not in str(refused.value)
