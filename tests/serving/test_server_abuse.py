"""The model server can't be held hostage either: a real server process, met by clients that send
half their headers or half their body, closes their connections after its read timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.config import ConfigError, load_config
from tests.serving.test_gateway_abuse import WAIT_S, json_body, until_closed
from tests.serving.test_server_http import ServerProcess, write_echo_bundle

HEAD = b"POST /v1/predict HTTP/1.1\r\nhost: replica\r\ncontent-type: application/json\r\n"
BODY = b'[{"x": 1, "sleep_ms": 0}]'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("abuse-server")
    process = ServerProcess(write_echo_bundle(tmp / "echo"), tmp, "--workers", "1", "--max-batch-size", "1",
                            "--header-timeout-s", "1", "--body-timeout-s", "1")
    yield process.wait_ready()
    process.stop()


@pytest.mark.parametrize("sent", [b"", HEAD, b"GET /health/li"], ids=["nothing", "half-headers", "half-request-line"])
def test_a_client_that_sends_half_its_headers_gets_408_after_the_header_timeout(server, sent):
    answer, seconds = until_closed(server.port, sent)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json_body(answer) == {"error": "the request's headers did not arrive within 1 s", "status": 408}
    assert 0.9 < seconds < WAIT_S


def test_a_client_that_sends_half_its_body_gets_408_after_the_body_timeout(server):
    answer, seconds = until_closed(server.port, HEAD + b"content-length: %d\r\n\r\n" % len(BODY) + BODY[:10])
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json_body(answer) == {"error": "the request's body did not arrive within 1 s", "status": 408}
    assert 0.9 < seconds < WAIT_S
    assert not [e for e in server.events("request") if e.get("path") == "/v1/predict" and e["status"] == 200]


def test_a_kept_alive_connection_may_wait_longer_than_the_header_timeout_between_requests(server):
    with httpx.Client(base_url=server.base, timeout=10) as client:
        assert client.post("/v1/predict", content=BODY, headers={"content-type": "application/json"}).status_code == 200
        time.sleep(1.5)  # idle between requests: the keep-alive time applies, not the header timeout
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/live").extensions["http_version"] == b"HTTP/1.1"


def test_the_read_timeouts_are_settings_and_a_bad_one_is_named():
    config = load_config(["--build", "b", "--body-timeout-s", "5"], {"BERTH_HEADER_TIMEOUT_S": "2.5"})
    assert (config.header_timeout_s, config.body_timeout_s) == (2.5, 5.0)
    assert (load_config(["--build", "b"], {}).header_timeout_s, load_config(["--build", "b"], {}).body_timeout_s) == (
        10.0, 30.0)
    with pytest.raises(ConfigError, match=r"^BERTH_HEADER_TIMEOUT_S: expected a finite number at least 0.01, got '0'$"):
        load_config(["--build", "b"], {"BERTH_HEADER_TIMEOUT_S": "0"})
