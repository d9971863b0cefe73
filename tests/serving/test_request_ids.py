"""Request ids from the caller (or the gateway) to the replica, its log lines and back: what a model prints
or logs while serving a request is a JSON line naming that request. Real server and gateway processes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import OneWriteRequest, ServerProcess, free_port, metric_samples, sample

TALKATIVE_MODEL = '''
import logging, os, sys, time
from pathlib import Path
import pandas as pd

log = logging.getLogger("talkative")


class Talkative:
    """Prints what it predicts (stdout and stderr) and logs a warning. A row with x < 0 holds the
    model until the test lets go: it creates $GATE/held, then waits for $GATE/release."""

    def build(self):
        print("talkative model loading")

    def predict(self, df):
        if (df["x"] < 0).any():
            gate = Path(os.environ["GATE"])
            (gate / "held").touch()
            deadline = time.monotonic() + 120  # a test that died never releases: give up eventually
            while not (gate / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        xs = sorted(int(x) for x in df["x"])
        print(f"predicting rows {xs}")
        print(f"stderr says {xs}", file=sys.stderr)
        log.warning("logged while predicting %d rows", len(df))
        return pd.DataFrame({"x": df["x"].to_numpy()})
'''


def write_talkative_bundle(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.py").write_text(TALKATIVE_MODEL)
    manifest = {"framework": "python", "entry_point": "model:Talkative", "example_input": [{"x": 0}]}
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("request-ids")


@pytest.fixture(scope="module")
def gate(tmp: Path) -> Path:
    (tmp / "gate").mkdir()
    return tmp / "gate"


@pytest.fixture(scope="module")
def server(tmp: Path, gate: Path) -> Iterator[ServerProcess]:
    bundle = write_talkative_bundle(tmp / "talkative")
    process = ServerProcess(bundle, tmp, "--workers", "1", "--max-batch-size", "16", "--max-batch-wait-ms", "50",
                            "--timeout-ms", "120000", env={"GATE": str(gate)})
    yield process.wait_ready()
    process.stop()


def predict(base: str, path: str, x: int, **headers: str) -> httpx.Response:
    return httpx.post(base + path, json=[{"x": x}], headers=headers, timeout=30)


def test_what_the_model_prints_and_logs_while_predicting_carries_the_callers_request_id(server):
    response = predict(server.base, "/v1/predict", 7, **{"X-Request-Id": "abc"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc"

    [err, out] = sorted(server.wait_for_events("model_output", lambda e: "[7]" in e["message"], 2),
                        key=lambda e: e["stream"])
    assert (out["stream"], out["message"], out["request_id"], out["level"]) == ("stdout", "predicting rows [7]", "abc",
                                                                                  "info")
    assert (err["stream"], err["message"], err["request_id"]) == ("stderr", "stderr says [7]", "abc")
    [logged] = server.wait_for_events("model_log", lambda e: e["request_id"] == "abc")
    assert (logged["level"], logged["logger"], logged["message"]) == ("warning", "talkative",
                                                                      "logged while predicting 1 rows")
    [access] = server.wait_for_events("request", lambda e: e["request_id"] == "abc")
    assert access["pid"] == out["pid"] == logged["pid"]


def test_a_request_without_an_id_gets_a_new_one_in_the_answer_and_in_what_the_model_prints(server):
    response = predict(server.base, "/v1/predict", 8)
    made = response.headers["x-request-id"]
    assert len(made) == 32
    [line] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [8]")
    assert line["request_id"] == made


def test_prints_at_load_and_warm_up_are_json_lines_without_a_request_id(server):
    [loading] = server.wait_for_events("model_output", lambda e: e["message"] == "talkative model loading")
    [warm_up] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [0]")
    for line in (loading, warm_up):
        assert not {"request_id", "request_ids"} & line.keys()
    assert not [line for line in server.log_path.read_bytes().splitlines() if not line.startswith(b"{")]


class IdentifiedRequest(OneWriteRequest):
    """A predict request sent in one write, with its own X-Request-Id."""

    def __init__(self, server: ServerProcess, request_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        self.request_id = request_id

    def send(self, body: Any) -> None:
        content = orjson.dumps(body)
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Request-Id: {self.request_id}\r\nContent-Length: {len(content)}\r\nConnection: close\r\n\r\n")
        self.sock.sendall(head.encode() + content)


def test_a_batched_call_lists_every_request_it_served(server, gate):
    blocker = IdentifiedRequest(server, "blocker")
    batched = [IdentifiedRequest(server, f"batch-{x}") for x in (21, 22, 23)]
    try:
        blocker.send([{"x": -1}])
        deadline = time.monotonic() + 30
        while not (gate / "held").exists():
            assert time.monotonic() < deadline, f"the model was never held:\n{server.log_path.read_text()}"
            time.sleep(0.01)
        for request, x in zip(batched, (21, 22, 23), strict=True):
            request.send([{"x": x}])
        # In flight: the blocker, the three queued behind it, and this scrape itself.
        while sample(metric_samples(server), "berth_requests_in_flight") < 5:
            assert time.monotonic() < deadline, "the requests never all reached the server"
            time.sleep(0.01)
    finally:
        (gate / "release").touch()
    try:
        assert blocker.answer().status_code == 200
        assert [request.answer().status_code for request in batched] == [200, 200, 200]
    finally:
        (gate / "held").unlink(missing_ok=True)
        (gate / "release").unlink()

    [line] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [21, 22, 23]")
    assert sorted(line["request_ids"]) == ["batch-21", "batch-22", "batch-23"]
    assert "request_id" not in line
    [held] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [-1]")
    assert held["request_id"] == "blocker"


def test_a_long_printed_line_is_cut_into_parts_each_under_one_pipe_write(tmp, python_bundle):
    bundle = python_bundle('''
        import pandas as pd

        class Model:
            def predict(self, df):
                print("é" * 5000)
                return pd.DataFrame({"y": [1] * len(df)})
    ''', example_input=[{"x": 1}])
    server = ServerProcess(bundle, tmp, "--workers", "1")
    try:
        server.wait_ready()
        assert predict(server.base, "/v1/predict", 1, **{"X-Request-Id": "long"}).status_code == 200
        deadline = time.monotonic() + 10
        while len(parts := [e for e in server.events("model_output") if e.get("request_id") == "long"]) < 2:
            assert time.monotonic() < deadline, server.log_path.read_text()
            time.sleep(0.05)
        assert "".join(part["message"] for part in parts) == "é" * 5000
        assert [part["part"] for part in parts] == list(range(1, len(parts) + 1))
        assert all(len(line) <= 4096 for line in server.log_path.read_bytes().splitlines(keepends=True))
    finally:
        server.stop()


# --- through the gateway ------------------------------------------------------------------

@pytest.fixture
def gateway(tmp_path: Path, server: ServerProcess) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path)
    process.write_routes("v1", default=(100, [server.base]))
    yield process.start()
    process.stop()


def test_through_the_gateway_a_request_without_an_id_gets_one_the_replica_and_its_model_print_too(server, gateway):
    response = predict(gateway.url(""), "/v1/models/echo/predict", 31)
    assert response.status_code == 200
    made = response.headers["x-request-id"]
    assert len(made) == 32
    [access] = server.wait_for_events("request", lambda e: e["request_id"] == made)
    assert access["path"] == "/v1/predict"
    [line] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [31]")
    assert line["request_id"] == made


def test_through_the_gateway_the_callers_id_reaches_the_model(server, gateway):
    response = predict(gateway.url(""), "/v1/models/echo/predict", 32, **{"X-Request-Id": "from-the-caller"})
    assert response.headers["x-request-id"] == "from-the-caller"
    [line] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [32]")
    assert line["request_id"] == "from-the-caller"


def test_through_the_gateway_an_id_too_long_is_replaced_once_for_both(server, gateway):
    response = predict(gateway.url(""), "/v1/models/echo/predict", 33, **{"X-Request-Id": "x" * 201})
    made = response.headers["x-request-id"]
    assert len(made) == 32
    [line] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [33]")
    assert line["request_id"] == made


def test_the_gateways_own_lines_carry_the_id_it_forwarded(server, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the first request is retried
    gateway = GatewayProcess(tmp_path)
    gateway.write_routes("v1", default=(100, [dead, server.base]))
    gateway.start()
    try:
        response = predict(gateway.url(""), "/v1/models/echo/predict", 34)
        assert response.status_code == 200
        made = response.headers["x-request-id"]
        lines = [orjson.loads(line) for line in gateway.log_path.read_bytes().splitlines() if line.startswith(b"{")]
        [failed] = [line for line in lines if line["event"] == "upstream_failed"]
        assert failed["request_id"] == made
        [printed] = server.wait_for_events("model_output", lambda e: e["message"] == "predicting rows [34]")
        assert printed["request_id"] == made
    finally:
        gateway.stop()
