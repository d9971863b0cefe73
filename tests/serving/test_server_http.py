"""The model server as users meet it: real server processes over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import joblib
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = {"sepal_width": 3, "sepal_length": 3.5, "petal_width": 4, "petal_length": 5}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

ECHO_MODEL = '''
import os, time
from pathlib import Path
import pandas as pd


class EchoModel:
    """Echoes column x and reports the batch size it saw; sleeps sleep_ms; fails on x < 0.

    A row with sleep_ms -1 holds the model until the test lets go: it creates
    $ECHO_HOLD_DIR/held, then waits for $ECHO_HOLD_DIR/release.
    """

    def build(self):
        time.sleep(float(os.environ.get("ECHO_LOAD_DELAY_S", "0")))

    def predict(self, df):
        if (df["x"] < 0).any():
            raise ValueError("x must not be negative")
        if (df["sleep_ms"] < 0).any():
            self._hold(Path(os.environ["ECHO_HOLD_DIR"]))
        delay = float(df["sleep_ms"].max())
        if delay > 0:
            time.sleep(delay / 1000)
        return pd.DataFrame({"x": df["x"].to_numpy(), "batch_size": len(df)})

    def _hold(self, gate):
        (gate / "held").touch()
        deadline = time.monotonic() + 120  # a test that died never releases: give up eventually
        while not (gate / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
'''


HELD_START_MODEL = '''
import os, time
from pathlib import Path
import pandas as pd


class HeldStart:
    """Echoes x with the pid of the worker that answered. The first worker to start claims
    $GATE/holding and holds in initialize_model until $GATE/release exists."""

    def initialize_model(self):
        gate = Path(os.environ["GATE"])
        try:
            os.close(os.open(gate / "holding", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        deadline = time.monotonic() + 120  # a test that died never releases: give up eventually
        while not (gate / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    def predict(self, df):
        return pd.DataFrame({"x": df["x"].to_numpy(), "pid": os.getpid()})
'''


# --- helpers -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`python -m serving.server` on a free port, its stdout in a file."""

    def __init__(self, build: str | Path, tmp: Path, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = tmp / f"server-{self.port}-{time.monotonic_ns()}.log"
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "serving.server", "--build", str(build), "--port", str(self.port), *args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log,  # noqa: S603 - this Python, our module
                                            stderr=subprocess.STDOUT,
                                            env={**os.environ, "TMPDIR": str(tmp), **(env or {})})

    def url(self, path: str) -> str:
        return self.base + path

    def wait_ready(self, timeout: float = 40.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited early:\n{self.log_path.read_text()}"
            try:
                if httpx.get(self.url("/health/ready"), timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log_path.read_text()}")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in self.log_path.read_bytes().splitlines() if line.startswith(b"{")]
        return [line for line in lines if name is None or line["event"] == name]

    def wait_for_events(self, name: str, keep: Any, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The logged `name` events that `keep` accepts, once at least `count` of them are written."""
        deadline = time.monotonic() + timeout
        while len(found := [e for e in self.events(name) if keep(e)]) < count:
            assert time.monotonic() < deadline, f"{count} {name} events not logged:\n{self.log_path.read_text()}"
            time.sleep(0.05)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def post(server: ServerProcess, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"content-type": "application/json", **headers}
    return httpx.post(server.url("/v1/predict"), content=content, headers=headers, timeout=30)


def metric_samples(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(server.url("/metrics"), timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def in_parallel(calls: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def write_iris_bundle(dest: Path) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    frame = load_iris(as_frame=True)
    features = frame.data.set_axis(FEATURES, axis=1)
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(SVC().fit(features, frame.target), dest / "model.joblib")
    manifest = {"framework": "sklearn", "model_file": "model.joblib", "example_input": [SETOSA]}
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


@contextmanager
def echo_replica(tmp: Path, *flags: str) -> Iterator[ServerProcess]:
    """A real model server of the echo model with one worker, ready; stopped at the end of the block."""
    server = ServerProcess(write_echo_bundle(tmp / "echo"), tmp, "--workers", "1", *flags)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def write_echo_bundle(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.py").write_text(ECHO_MODEL)
    manifest = {"framework": "python", "entry_point": "model:EchoModel",
                "example_input": [{"x": 0, "sleep_ms": 0}]}
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


# --- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def iris_bundle(tmp: Path) -> Path:
    return write_iris_bundle(tmp / "iris")


@pytest.fixture(scope="module")
def echo_bundle(tmp: Path) -> Path:
    return write_echo_bundle(tmp / "echo")


@pytest.fixture(scope="module")
def iris(iris_bundle: Path, tmp: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(iris_bundle, tmp, "--workers", "2", "--max-body-bytes", "4096")
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="module")
def echo(echo_bundle: Path, tmp: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(echo_bundle, tmp, "--workers", "1", "--max-batch-size", "16",
                           "--max-batch-wait-ms", "50", "--timeout-ms", "2000")
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="module")
def gate(tmp: Path) -> Path:
    """Where the batching tests and the held echo model signal each other (see ECHO_MODEL)."""
    (tmp / "gate").mkdir()
    return tmp / "gate"


@pytest.fixture(scope="module")
def batching(echo_bundle: Path, tmp: Path, gate: Path) -> Iterator[ServerProcess]:
    """An echo server whose requests may wait behind a held model for as long as a test needs."""
    server = ServerProcess(echo_bundle, tmp, "--workers", "1", "--max-batch-size", "16",
                           "--max-batch-wait-ms", "50", "--timeout-ms", "120000", env={"ECHO_HOLD_DIR": str(gate)})
    yield server.wait_ready()
    server.stop()


# --- input formats -------------------------------------------------------------------

def test_it_answers_a_list_of_records_like_realtimeclient_sends(iris: ServerProcess) -> None:
    response = post(iris, [ROW, SETOSA])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"prediction": 2}, {"prediction": 0}]


def test_it_answers_a_single_record(iris: ServerProcess) -> None:
    assert post(iris, SETOSA).json() == [{"prediction": 0}]


def test_it_answers_pandas_split_in_any_column_order(iris: ServerProcess) -> None:
    columns = ["petal_width", "sepal_length", "petal_length", "sepal_width"]
    body = {"columns": columns, "data": [[ROW[c] for c in columns], [SETOSA[c] for c in columns]]}
    assert post(iris, body).json() == [{"prediction": 2}, {"prediction": 0}]


def test_it_answers_instances_as_records_or_positional_rows(iris: ServerProcess) -> None:
    assert post(iris, {"instances": [SETOSA]}).json() == [{"prediction": 0}]
    rows = [[SETOSA[f] for f in FEATURES], [ROW[f] for f in FEATURES]]
    assert post(iris, {"instances": rows}).json() == [{"prediction": 0}, {"prediction": 2}]


def test_it_accepts_json_without_a_content_type_and_with_accept_any(iris: ServerProcess) -> None:
    response = httpx.post(iris.url("/v1/predict"), content=orjson.dumps(ROW), headers={"accept": "*/*"})
    assert response.status_code == 200


# --- errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"sepal_length": 1, "sepal_width": 1, "petal_length": 1}, "petal_width"),
    ({**ROW, "colour": "blue"}, "colour"),
    ({**ROW, "sepal_width": "wide"}, "sepal_width"),
    ({"columns": ["sepal_length"], "data": [[1]]}, "sepal_width"),
])
def test_a_request_not_matching_the_schema_gets_422_naming_the_field(
        iris: ServerProcess, body: dict[str, Any], field: str) -> None:
    response = post(iris, body)
    assert response.status_code == 422
    assert field in response.json()["error"]


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b'[{"sepal_length": 1,', {}, 400),
    (b"", {}, 400),
    (orjson.dumps(ROW), {"content-type": "text/plain"}, 415),
    (orjson.dumps(ROW), {"accept": "text/html"}, 406),
    (b"[" + b"1," * 3000 + b"1]", {}, 413),
])
def test_bad_requests_get_json_errors_and_the_server_stays_up(
        iris: ServerProcess, body: bytes, headers: dict[str, str], status: int) -> None:
    response = post(iris, body, **headers)
    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["error"]
    assert post(iris, ROW).status_code == 200


def test_unknown_routes_and_methods_get_404_and_405(iris: ServerProcess) -> None:
    assert httpx.get(iris.url("/nope")).status_code == 404
    wrong = httpx.get(iris.url("/v1/predict"))
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    posted = httpx.post(iris.url("/health/live"))
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")


def test_it_honours_an_incoming_request_id_and_logs_it(iris: ServerProcess) -> None:
    response = post(iris, ROW, **{"x-request-id": "req-abc-123"})
    assert response.headers["x-request-id"] == "req-abc-123"
    [line] = iris.wait_for_events("request", lambda e: e["request_id"] == "req-abc-123")
    assert line["status"] == 200
    assert line["latency_ms"] > 0
    assert line["path"] == "/v1/predict"
    assert post(iris, ROW).headers["x-request-id"]  # made up when absent


def test_a_model_exception_is_a_500_with_its_type_and_message_never_a_traceback(echo: ServerProcess) -> None:
    response = post(echo, {"x": -1, "sleep_ms": 0})
    assert response.status_code == 500
    assert "ValueError" in response.json()["error"]
    assert "x must not be negative" in response.json()["error"]
    assert "Traceback" not in response.text
    assert sample(metric_samples(echo), "berth_prediction_errors_total", type="PredictionError") >= 1
    assert post(echo, {"x": 1, "sleep_ms": 0}).json() == [{"x": 1, "batch_size": 1}]


def test_a_slow_prediction_gets_504_and_the_server_recovers(echo: ServerProcess) -> None:
    started = time.monotonic()
    response = post(echo, {"x": 1, "sleep_ms": 4000})
    assert response.status_code == 504
    assert "2000 ms" in response.json()["error"]
    assert time.monotonic() - started < 3.5, "answered at the timeout, not when the model finished"
    time.sleep(4.2 - (time.monotonic() - started))  # the model thread finishes its 4 s
    assert post(echo, {"x": 2, "sleep_ms": 0}).status_code == 200


# --- batching ------------------------------------------------------------------------
# Each test holds the model with one request, queues its requests behind it and lets go only
# once the server has all of them, so what is batched never depends on how fast this machine is.

class OneWriteRequest:
    """A predict request on a connection opened up front, sent in a single write.

    The server then has the whole body as soon as it sees the request, so a request counted
    in berth_requests_in_flight has already been decoded and queued in the batcher.
    """

    def __init__(self, server: ServerProcess) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)

    def send(self, body: Any) -> None:
        content = orjson.dumps(body)
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n")
        self.sock.sendall(head.encode() + content)

    def answer(self) -> httpx.Response:
        with self.sock:
            response = http.client.HTTPResponse(self.sock)
            response.begin()
            return httpx.Response(response.status, content=response.read())


def _held(server: ServerProcess, gate: Path, bodies: list[Any]) -> list[httpx.Response]:
    """Send `bodies` while a held prediction keeps the model busy; release it once all are queued."""
    blocker, *requests = [OneWriteRequest(server) for _ in range(len(bodies) + 1)]
    try:
        blocker.send({"x": 0, "sleep_ms": -1})
        deadline = time.monotonic() + 30
        while not (gate / "held").exists():  # the blocker's batch is closed and inside predict
            assert time.monotonic() < deadline, f"the model was never held:\n{server.log_path.read_text()}"
            time.sleep(0.01)
        for request, body in zip(requests, bodies, strict=True):
            request.send(body)
        # In flight: the blocker, every queued request, and this scrape itself.
        while sample(metric_samples(server), "berth_requests_in_flight") < len(bodies) + 2:
            assert time.monotonic() < deadline, "the requests never all reached the server"
            time.sleep(0.01)
    finally:
        (gate / "release").touch()
    try:
        assert blocker.answer().json() == [{"x": 0, "batch_size": 1}]
        return [request.answer() for request in requests]
    finally:
        (gate / "held").unlink(missing_ok=True)
        (gate / "release").unlink()


def test_concurrent_requests_share_one_predict_call_and_each_gets_its_own_rows(
        batching: ServerProcess, gate: Path) -> None:
    bodies: list[Any] = [{"x": i, "sleep_ms": 0} for i in range(1, 7)]
    bodies.append([{"x": 10, "sleep_ms": 0}, {"x": 11, "sleep_ms": 0}, {"x": 12, "sleep_ms": 0}])
    before = metric_samples(batching)
    responses = _held(batching, gate, bodies)
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses[:6], start=1):
        assert response.json() == [{"x": i, "batch_size": 9}]
    assert responses[6].json() == [{"x": x, "batch_size": 9} for x in (10, 11, 12)]
    after = metric_samples(batching)
    nine = sample(after, "berth_batch_size_bucket", le="16.0") - sample(after, "berth_batch_size_bucket", le="8.0")
    nine -= sample(before, "berth_batch_size_bucket", le="16.0") - sample(before, "berth_batch_size_bucket", le="8.0")
    assert nine == 1


def test_batches_never_exceed_max_batch_size(batching: ServerProcess, gate: Path) -> None:
    responses = _held(batching, gate, [{"x": i, "sleep_ms": 0} for i in range(20)])
    assert sorted(r.json()[0]["x"] for r in responses) == list(range(20))
    # All 20 were queued when the model came free: one full batch of 16, then the other 4.
    assert sorted(r.json()[0]["batch_size"] for r in responses) == [4] * 4 + [16] * 16


def test_one_failing_request_does_not_fail_its_batch_mates(batching: ServerProcess, gate: Path) -> None:
    responses = _held(batching, gate, [{"x": 1, "sleep_ms": 0}, {"x": -1, "sleep_ms": 0}, {"x": 3, "sleep_ms": 0}])
    assert [r.status_code for r in responses] == [200, 500, 200]
    assert responses[2].json()[0]["x"] == 3


# --- metrics and workers -------------------------------------------------------------

def test_metrics_count_known_traffic_across_both_workers(iris: ServerProcess) -> None:
    before = metric_samples(iris)
    ids: list[str] = []
    pids: set[int] = set()
    # The kernel picks which worker accepts a connection: send rounds of concurrent requests,
    # a new connection each, until both workers have answered some (bounded).
    while len(pids) < 2 and len(ids) < 400:
        batch = [f"count-{len(ids) + i}" for i in range(8)]
        ids += batch
        calls = [lambda request_id=request_id: post(iris, ROW, **{"x-request-id": request_id}) for request_id in batch]
        assert all(response.status_code == 200 for response in in_parallel(calls))
        sent = set(ids)
        pids = {e["pid"] for e in iris.wait_for_events("request", lambda e, sent=sent: e["request_id"] in sent,
                                                       count=len(sent))}
    assert len(pids) == 2, "both workers should have answered and been counted"
    for _ in range(3):
        assert post(iris, {"nope": 1}).status_code == 422
    after = metric_samples(iris)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("berth_requests_total", path="/v1/predict", code="200") == len(ids)
    assert delta("berth_requests_total", path="/v1/predict", code="422") == 3
    assert delta("berth_request_duration_seconds_count", path="/v1/predict") == len(ids) + 3
    assert delta("berth_batch_size_sum") == len(ids)  # every row predicted once, however batched
    assert sample(after, "berth_requests_in_flight") == 1  # the scrape itself
    assert sample(after, "berth_model_load_seconds") > 0
    assert sample(after, "berth_model_ready", worker="0") == sample(after, "berth_model_ready", worker="1") == 1
    roles = [labels for (name, labels) in after if name == "berth_process_resident_memory_bytes"]
    assert sorted(dict(labels)["role"] for labels in roles) == ["parent", "worker", "worker"]
    assert all(after[("berth_process_cpu_seconds_total", labels)] > 0 for labels in roles)


def test_health_endpoints_and_metadata(iris: ServerProcess) -> None:
    assert httpx.get(iris.url("/health/live")).json() == {"status": "alive"}
    assert httpx.get(iris.url("/health/ready")).status_code == 200
    metadata = httpx.get(iris.url("/v1/metadata")).json()
    assert [f["name"] for f in metadata["input_schema"]] == FEATURES


def test_a_crashed_worker_is_restarted(iris: ServerProcess) -> None:
    victim = iris.events("worker_started")[0]["worker_pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len(iris.events("worker_started")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(iris.events("worker_started")) == 3
    iris.wait_ready()
    assert all(post(iris, ROW).status_code == 200 for _ in range(10))


# --- lifecycle -----------------------------------------------------------------------

def test_ready_only_after_a_slow_model_loaded_and_warmed_up(echo_bundle: Path, tmp: Path) -> None:
    server = ServerProcess(echo_bundle, tmp, "--max-batch-size", "1", env={"ECHO_LOAD_DELAY_S": "2.5"})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                live = httpx.get(server.url("/health/live"), timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert live.status_code == 200
        assert httpx.get(server.url("/health/ready")).status_code == 503
        assert post(server, {"x": 1, "sleep_ms": 0}).status_code == 503
        server.wait_ready()
        assert [e["event"] for e in server.events() if e["event"] == "model_loaded"] == ["model_loaded"]
        responses = in_parallel([lambda i=i: post(server, {"x": i, "sleep_ms": 50}) for i in range(4)])
        assert [r.json() for r in responses] == [[{"x": i, "batch_size": 1}] for i in range(4)]
    finally:
        server.stop()


def write_held_start_bundle(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.py").write_text(HELD_START_MODEL)
    manifest = {"framework": "python", "entry_point": "model:HeldStart", "example_input": [{"x": 0}]}
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


def _wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.02)


def _answering_pids(server: ServerProcess, want: int, tries: int = 200) -> set[int]:
    """Pids of the workers answering predictions on new connections (503s from a stand-in skipped)."""
    pids: set[int] = set()
    for _ in range(tries):
        response = post(server, {"x": 1})
        if response.status_code == 200:
            pids.add(response.json()[0]["pid"])
        else:
            assert response.status_code == 503, response.text
        if len(pids) >= want:
            break
    return pids


def _ready_status(server: ServerProcess) -> int:
    return httpx.get(server.url("/health/ready"), timeout=5).status_code


def test_ready_stays_503_until_every_worker_answers_a_reforked_one_included(tmp: Path) -> None:
    gate = tmp / "held-start-gate"
    gate.mkdir()
    server = ServerProcess(write_held_start_bundle(tmp / "held-start"), tmp, "--workers", "2",
                           env={"GATE": str(gate)})
    try:
        # One worker holds in initialize_model; the other answers predictions, yet the replica is not ready.
        _wait_for(lambda: (gate / "holding").exists() and server.events("worker_ready"), "one worker held, one ready")
        assert len(_answering_pids(server, want=1)) == 1
        assert [_ready_status(server) for _ in range(5)] == [503] * 5
        (gate / "release").touch()
        server.wait_ready()
        assert len(server.events("worker_ready")) == 2  # both were ready before the replica said so
        assert server.events("stand_in_stopped")  # and nothing without the model takes connections
        assert len(_answering_pids(server, want=2)) == 2

        # A crashed worker is re-forked; the replica is not ready again until the new one answers too.
        (gate / "holding").unlink()
        (gate / "release").unlink()
        victim = server.events("worker_ready")[0]["pid"]
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: (gate / "holding").exists(), "the re-forked worker held")
        assert [_ready_status(server) for _ in range(5)] == [503] * 5
        assert all(post(server, {"x": 2}).status_code == 200 for _ in range(5))  # the other worker serves on
        (gate / "release").touch()
        server.wait_ready()
        assert len(_answering_pids(server, want=2)) == 2
    finally:
        (gate / "release").touch()
        server.stop()


def test_a_model_that_cannot_load_stops_the_server_with_exit_code_3_saying_why(tmp: Path) -> None:
    bundle = write_iris_bundle(tmp / "broken-iris")
    (bundle / "model.joblib").write_bytes(b"this is not a pickle")
    server = ServerProcess(bundle, tmp, "--workers", "2")
    try:
        assert server.process.wait(60) == 3
        [failed] = server.events("model_load_failed")
        assert failed["error"].startswith("ModelLoadError: could not load model.joblib (sklearn)")
        assert server.events("worker_started") == []
    finally:
        server.stop()


def test_sigterm_while_the_model_loads_stops_the_server_at_once(echo_bundle: Path, tmp: Path) -> None:
    server = ServerProcess(echo_bundle, tmp, env={"ECHO_LOAD_DELAY_S": "60"})
    try:
        server.wait_for_events("stand_in_started", lambda e: True, timeout=30)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
        assert time.monotonic() - started < 10
        assert [e["event"] for e in server.events()][-1] == "shutdown"
    finally:
        server.stop()


def test_sigterm_drains_in_flight_requests_before_exiting(echo_bundle: Path, tmp: Path) -> None:
    server = ServerProcess(echo_bundle, tmp, "--workers", "2", "--max-batch-size", "1").wait_ready()
    try:
        def slow(i: int) -> Any:
            return lambda: post(server, {"x": i, "sleep_ms": 300})

        def terminate() -> None:  # once all 12 are in flight (the scrape is the 13th)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if sample(metric_samples(server), "berth_requests_in_flight") >= 13:
                    break
                time.sleep(0.02)
            server.process.send_signal(signal.SIGTERM)

        with ThreadPoolExecutor(13) as pool:
            futures = [pool.submit(slow(i)) for i in range(12)]
            pool.submit(terminate)
            responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [200] * 12
        assert server.process.wait(20) == 0
        events = [e["event"] for e in server.events()]
        assert "shutdown_started" in events
        assert events[-1] == "shutdown"
    finally:
        server.stop()


def test_a_server_whose_port_is_still_held_waits_for_it_instead_of_failing(echo_bundle: Path, tmp: Path) -> None:
    # After supervisord restarts a killed replica, the new process binds within ~80 ms while
    # the old workers may still hold the port for a moment: it must wait, not exit.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    server = ServerProcess(echo_bundle, tmp, "--workers", "1", port=holder.getsockname()[1])
    try:
        server.wait_for_events("port_busy", lambda e: True)
        assert server.process.poll() is None
        holder.close()
        server.wait_ready()
        assert post(server, {"x": 8, "sleep_ms": 0}).json() == [{"x": 8, "batch_size": 1}]
    finally:
        holder.close()
        server.stop()


def test_it_downloads_a_build_archive_and_workers_die_with_the_parent(iris_bundle: Path, tmp: Path) -> None:
    archive = tmp / "iris.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(iris_bundle, arcname="iris")
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(tmp)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{files.server_address[1]}/iris.tar.gz"
    server = ServerProcess(url, tmp, "--workers", "2")
    try:
        server.wait_ready()
        assert post(server, SETOSA).json() == [{"prediction": 0}]
        workers = [e["worker_pid"] for e in server.events("worker_started")]
        server.process.kill()
        server.process.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        files.shutdown()
        server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split(") ", 1)[1][0] != "Z"
