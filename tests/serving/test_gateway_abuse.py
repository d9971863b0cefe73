"""The gateway can't be held hostage: a real gateway process in front of a real model server,
met by clients that send half a request, abort, or hold too many connections; and its answers
look like the model server's (error shape, Allow, X-Request-Id, Content-Type)."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from serving.gateway import FILES_RESERVED, parse_args
from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import ServerProcess, echo_replica

PREDICT = "/v1/models/echo/predict"
HEAD = b"POST /v1/models/echo/predict HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
BODY = b'[{"x": 1, "sleep_ms": 0}]'
# Bounds for a slow, shared machine: a timeout of 1 s must have struck well before 15 s.
WAIT_S = 15.0


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with echo_replica(tmp_path_factory.mktemp("abuse-replica"), "--max-batch-size", "1") as server:
        yield server


def gateway_for(tmp: Path, replica: ServerProcess, *flags: str) -> GatewayProcess:
    gateway = GatewayProcess(tmp)
    gateway.write_routes("v1", default=(100, [replica.base]))
    return gateway.start(*flags)


@pytest.fixture
def start_gateway(tmp_path: Path, replica: ServerProcess) -> Iterator[Callable[..., GatewayProcess]]:
    """`start_gateway(*flags)`: a gateway in front of the replica, stopped after the test."""
    started: list[GatewayProcess] = []

    def start(*flags: str) -> GatewayProcess:
        started.append(gateway_for(tmp_path, replica, *flags))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway()


def until_closed(port: int, data: bytes) -> tuple[bytes, float]:
    """Send `data` on a new connection, then read until the gateway closes it: what came back and
    the seconds that took."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        started = time.monotonic()
        if data:
            sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def json_body(answer: bytes) -> object:
    return orjson.loads(answer.split(b"\r\n\r\n", 1)[1])


def predictions_seen(replica: ServerProcess) -> int:
    time.sleep(0.3)  # the access log is written every few milliseconds
    return len([e for e in replica.events("request") if e.get("path") == "/v1/predict"])


@pytest.mark.parametrize("sent", [b"", HEAD, b"GET /health/li"], ids=["nothing", "half-headers", "half-request-line"])
def test_a_client_that_sends_half_its_headers_gets_408_after_the_header_timeout(start_gateway, sent):
    gateway = start_gateway("--header-timeout-s", "1")
    answer, seconds = until_closed(gateway.port, sent)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json_body(answer) == {"error": "the request's headers did not arrive within 1 s", "status": 408}
    assert 0.9 < seconds < WAIT_S


def test_a_half_sent_body_gets_408_after_the_body_timeout_and_never_reaches_the_replica(start_gateway, replica):
    gateway = start_gateway("--body-timeout-s", "1")
    before = predictions_seen(replica)
    answer, seconds = until_closed(gateway.port, HEAD + b"content-length: %d\r\n\r\n" % len(BODY) + BODY[:10])
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json_body(answer) == {"error": "the request's body did not arrive within 1 s", "status": 408}
    assert 0.9 < seconds < WAIT_S
    assert predictions_seen(replica) == before
    assert gateway.predict().status_code == 200
    assert predictions_seen(replica) == before + 1  # the count would have seen a forwarded request


def test_clients_that_abort_mid_body_send_nothing_to_the_replica(gateway, replica):
    before = predictions_seen(replica)
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT_S) as sock:
            sock.sendall(HEAD + b"content-length: %d\r\n\r\n" % len(BODY) + BODY[:10])
    chunked = HEAD + b"transfer-encoding: chunked\r\n\r\n5\r\n[{\"x\"\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT_S) as sock:
        sock.sendall(chunked)
    assert predictions_seen(replica) == before
    assert httpx.get(gateway.url("/health/live"), timeout=5).status_code == 200


def held_connections(port: int, count: int) -> list[socket.socket]:
    """Connections the gateway has surely accepted: each asked for /health/live and keeps alive."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        sock.sendall(b"GET /health/live HTTP/1.1\r\nhost: gw\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
        held.append(sock)
    return held


def test_past_the_connection_cap_a_prediction_gets_a_fast_503_while_health_checks_answer(start_gateway):
    gateway = start_gateway("--max-connections", "4")
    held = held_connections(gateway.port, 4)
    try:
        started = time.monotonic()
        refused = gateway.predict()
        assert time.monotonic() - started < 5
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": "the gateway holds its most connections (4); retry shortly", "status": 503}
        assert 'berth_gateway_requests_total{code="5xx",variation=""} 1.0' in \
            httpx.get(gateway.url("/metrics"), timeout=5).text
        assert httpx.get(gateway.url("/health/live"), timeout=5).status_code == 200
        assert httpx.get(gateway.url("/health/ready"), timeout=5).json()["status"] == "ready"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + WAIT_S
    while (status := gateway.predict().status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 200


def test_a_new_client_past_the_connection_cap_displaces_the_oldest_connection_that_sent_nothing(start_gateway):
    gateway = start_gateway("--max-connections", "4")
    silent = [socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT_S) for _ in range(4)]
    try:
        assert gateway.predict().status_code == 200  # accepted after the four, in the backlog's order
        assert silent[0].recv(65536) == b"", "the oldest silent connection was not closed"
        silent[1].setblocking(False)
        with pytest.raises(BlockingIOError):  # the next one is still open, waiting
            silent[1].recv(65536)
    finally:
        for sock in silent:
            sock.close()


def test_past_the_pending_cap_a_request_gets_a_fast_503_instead_of_waiting(start_gateway):
    gateway = start_gateway("--max-pending", "1")

    def timed_predict() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = httpx.post(gateway.url(PREDICT), json=[{"x": 1, "sleep_ms": 5000}], timeout=30)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(3) as pool:  # sent at once: one waits 5 s for the replica, the others don't
        answers = list(pool.map(lambda _: timed_predict(), range(3)))
    statuses = sorted(response.status_code for response, _ in answers)
    assert statuses[0] == 200
    assert statuses[-1] == 503, f"no request was refused while one waited for the replica: {statuses}"
    refused = [(response, seconds) for response, seconds in answers if response.status_code == 503]
    assert all(seconds < 3 for _, seconds in refused)  # well before the waiting request's 5 s
    assert refused[0][0].headers["retry-after"] == "1"
    assert refused[0][0].json() == {"error": "the gateway holds its most requests waiting for replicas (1); "
                                             "retry shortly", "status": 503}
    assert gateway.predict().status_code == 200


def test_a_405_says_what_is_allowed_and_health_checks_take_get_only(gateway):
    wrong_method = httpx.get(gateway.url(PREDICT), timeout=5)
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
    assert wrong_method.json() == {"error": f"{PREDICT} answers POST only, not GET", "status": 405}
    for path in ("/health/live", "/health/ready"):
        posted = httpx.post(gateway.url(path), timeout=5)
        assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")
        assert posted.json() == {"error": f"{path} answers GET only, not POST", "status": 405}
        head = httpx.head(gateway.url(path), timeout=5)
        assert (head.status_code, head.content) == (200, b"")


def test_the_replicas_request_id_and_content_type_come_back_through_the_gateway(gateway, replica):
    named = gateway.predict(**{"x-request-id": "req-42"})
    assert (named.status_code, named.headers["x-request-id"]) == (200, "req-42")
    unnamed = gateway.predict()
    direct = httpx.post(replica.url("/v1/predict"), json=[{"x": 1, "sleep_ms": 0}], timeout=10)
    assert len(unnamed.headers["x-request-id"]) == len(direct.headers["x-request-id"]) == 32
    assert unnamed.headers["content-type"] == direct.headers["content-type"]
    refused = gateway.predict(PREDICT.replace("echo", "churn"), **{"x-request-id": "req-43"})
    assert (refused.json()["status"], refused.headers["x-request-id"]) == (404, "req-43")
    assert len(httpx.get(gateway.url("/health/live"), timeout=5).headers["x-request-id"]) == 32


def test_the_connection_cap_stays_under_the_open_files_limit(tmp_path, replica):
    gateway = GatewayProcess(tmp_path)
    gateway.write_routes("v1", default=(100, [replica.base]))
    gateway.start(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)))
    try:
        lowered = [orjson.loads(line) for line in gateway.log_path.read_bytes().splitlines()
                   if b'"max_connections_lowered"' in line]
        assert [(e["asked"], e["allowed"]) for e in lowered] == [(4096, 1024 - FILES_RESERVED)]
        assert gateway.predict().status_code == 200
    finally:
        gateway.stop()


def test_the_limits_are_read_from_flags_or_env_vars_and_a_bad_one_is_named(monkeypatch, capsys):
    monkeypatch.setenv("BERTH_GATEWAY_BODY_TIMEOUT_S", "12.5")
    args = parse_args(["--config", "routes.json", "--port", "1", "--max-pending", "7"])
    assert (args.header_timeout_s, args.body_timeout_s, args.max_connections, args.max_pending) == (10.0, 12.5, 4096, 7)
    monkeypatch.setenv("BERTH_GATEWAY_HEADER_TIMEOUT_S", "soon")
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--config", "routes.json", "--port", "1"])
    assert stopped.value.code == 2
    assert ("argument --header-timeout-s: expected a number, got 'soon' (flag or BERTH_GATEWAY_HEADER_TIMEOUT_S)"
            in capsys.readouterr().err)


def test_an_error_quotes_a_long_path_cut_short(gateway):
    long_path = "/v1/" + "x" * 5000
    refused = httpx.post(gateway.url(long_path), json=[], timeout=5)
    assert refused.status_code == 404
    assert refused.json()["error"] == f"no route {long_path[:200]}…; POST /v1/models/<model_id>/predict"
