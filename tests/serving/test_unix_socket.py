"""Replicas on Unix sockets: the model server with --uds, the gateway and the readiness probe
reaching `unix:/path` endpoints. Real processes; socket paths short enough for sun_path."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from deployments.backends import readiness
from tests.serving.test_gateway_http import GatewayProcess
from tests.serving.test_server_http import ROOT, write_echo_bundle

ROW = {"x": 1, "sleep_ms": 0}


class SocketServer:
    """`python -m serving.server --uds PATH`, its stdout in a file."""

    def __init__(self, build: Path, path: str, tmp: Path, *args: str) -> None:
        self.path = path
        self.endpoint = f"unix:{path}"
        self.log_path = tmp / f"server-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "serving.server", "--build", str(build), "--uds", path, *args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log,  # noqa: S603 - this Python, our module
                                            stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)})

    def client(self) -> httpx.Client:
        """A client over the socket; each one opens its own connection."""
        return httpx.Client(transport=httpx.HTTPTransport(uds=self.path), base_url="http://replica", timeout=10)

    def wait_ready(self, timeout: float = 60.0) -> SocketServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited early:\n{self.log_path.read_text()}"
            try:
                with self.client() as client:
                    if client.get("/health/ready").status_code == 200:
                        return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log_path.read_text()}")

    def predict(self, body: Any, **headers: str) -> httpx.Response:
        with self.client() as client:
            return client.post("/v1/predict", content=orjson.dumps(body),
                               headers={"content-type": "application/json", **headers})

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in self.log_path.read_bytes().splitlines() if line.startswith(b"{")]
        return [line for line in lines if line["event"] == name]

    def answering_pids(self, request_ids: set[str], timeout: float = 10.0) -> set[int]:
        """The workers that answered these requests, once each request's access-log line is written."""
        deadline = time.monotonic() + timeout
        while len(found := [e for e in self.events("request") if e["request_id"] in request_ids]) < len(request_ids):
            assert time.monotonic() < deadline, f"requests not logged:\n{self.log_path.read_text()}"
            time.sleep(0.05)
        return {e["pid"] for e in found}

    def exit_code(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def short_dir() -> Path:
    """A folder in /tmp: a pytest tmp_path can be longer than the 107 bytes a socket path may have."""
    return Path(tempfile.mkdtemp(prefix="b-", dir="/tmp"))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unix-socket")


@pytest.fixture(scope="module")
def echo_bundle(tmp: Path) -> Path:
    return write_echo_bundle(tmp / "echo")


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    folder = short_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def served(echo_bundle: Path, tmp: Path) -> Iterator[SocketServer]:
    """An echo server with two workers on a Unix socket."""
    folder = short_dir()
    server = SocketServer(echo_bundle, str(folder / "server.sock"), tmp, "--workers", "2", "--max-batch-size", "1")
    yield server.wait_ready()
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


# --- the model server ----------------------------------------------------------------

def test_both_workers_answer_predictions_through_the_socket(served: SocketServer) -> None:
    sent: list[str] = []
    pids: set[int] = set()
    # The kernel picks which worker accepts a connection: send rounds of concurrent requests,
    # a new connection each, until both workers have answered some (bounded).
    with ThreadPoolExecutor(8) as pool:
        while len(pids) < 2 and len(sent) < 400:
            batch = [f"uds-{len(sent) + i}" for i in range(8)]
            sent += batch
            responses = list(pool.map(lambda rid: served.predict([ROW], **{"x-request-id": rid}), batch))
            assert [r.json() for r in responses] == [[{"x": 1, "batch_size": 1}]] * len(batch)
            pids = served.answering_pids(set(sent))
    assert len(pids) == 2, "both workers should have accepted on the shared socket"


def test_the_socket_is_group_only_and_the_startup_line_names_it(served: SocketServer) -> None:
    assert stat.S_ISSOCK(os.stat(served.path).st_mode)
    assert stat.S_IMODE(os.stat(served.path).st_mode) == 0o660
    [startup] = served.events("startup")
    assert startup["uds"] == served.path
    assert "port" not in startup


def test_stopping_the_server_removes_its_socket(echo_bundle: Path, tmp: Path, socket_dir: Path) -> None:
    server = SocketServer(echo_bundle, str(socket_dir / "s.sock"), tmp).wait_ready()
    server.stop()
    assert server.process.returncode == 0
    assert not os.path.exists(server.path)


def test_a_stale_socket_file_is_replaced(echo_bundle: Path, tmp: Path, socket_dir: Path) -> None:
    path = str(socket_dir / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:  # a server that died without cleaning up
        dead.bind(path)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    server = SocketServer(echo_bundle, path, tmp)
    try:
        server.wait_ready()
        assert server.predict([ROW]).json() == [{"x": 1, "batch_size": 1}]
    finally:
        server.stop()


def test_a_second_server_on_a_live_socket_is_refused_and_the_first_keeps_serving(
        served: SocketServer, echo_bundle: Path, tmp: Path) -> None:
    second = SocketServer(echo_bundle, served.path, tmp)
    try:
        assert second.exit_code() == 2  # after waiting BIND_WAIT_S for the path to come free
    finally:
        second.stop()
    [failed] = second.events("startup_failed")
    assert failed["error"] == f"can't listen on {served.path}: another server is listening on this socket"
    assert second.events("socket_busy")
    assert served.predict([ROW]).status_code == 200


def test_a_path_that_is_not_a_socket_is_left_alone(echo_bundle: Path, tmp: Path, socket_dir: Path) -> None:
    path = socket_dir / "s.sock"
    path.write_text("someone's file")
    server = SocketServer(echo_bundle, str(path), tmp)
    try:
        assert server.exit_code() == 2
    finally:
        server.stop()
    assert "exists and is not a socket" in server.events("startup_failed")[0]["error"]
    assert path.read_text() == "someone's file"


# --- the gateway ---------------------------------------------------------------------

def test_the_gateway_forwards_to_a_unix_endpoint_and_retries_a_missing_socket(
        served: SocketServer, tmp_path: Path, socket_dir: Path) -> None:
    gateway = GatewayProcess(tmp_path)
    missing = f"unix:{socket_dir / 'gone.sock'}"  # nothing ever bound it
    gateway.write_routes("v1", default=(100, [served.endpoint, missing]))
    gateway.start()
    try:
        responses = [gateway.predict() for _ in range(20)]
        assert [r.status_code for r in responses] == [200] * 20
        assert all(r.json() == [{"x": 1, "batch_size": 1}] for r in responses)
        assert "upstream_failed" in gateway.log_path.read_text(), "the missing socket was never tried"

        # The endpoint leaves the routes (its client is closed), then comes back (a new one).
        gateway.write_routes("v2", default=(100, [missing]))
        gateway.wait_for_version("v2")
        assert gateway.predict().status_code == 502
        gateway.write_routes("v3", default=(100, [served.endpoint]))
        gateway.wait_for_version("v3")
        assert [gateway.predict().status_code for _ in range(5)] == [200] * 5
    finally:
        gateway.stop()


def test_the_gateway_rejects_routes_with_a_malformed_endpoint(served: SocketServer, tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path)
    gateway.write_routes("v1", default=(100, [served.endpoint]))
    gateway.start()
    try:
        gateway.write_routes("v2", default=(100, ["unix:relative/server.sock"]))
        deadline = time.monotonic() + 20
        while "routes_rejected" not in gateway.log_path.read_text():
            assert time.monotonic() < deadline, f"bad routes never rejected:\n{gateway.log_path.read_text()}"
            time.sleep(0.1)
        assert "absolute socket path" in gateway.log_path.read_text()
        assert gateway.predict().status_code == 200  # still on v1
    finally:
        gateway.stop()


# --- the readiness probe -------------------------------------------------------------

def test_the_readiness_probe_reaches_a_unix_endpoint(served: SocketServer) -> None:
    with httpx.Client(timeout=1.0) as client:
        assert readiness.probe(client, served.endpoint) is None


def test_the_readiness_probe_says_when_there_is_no_socket(socket_dir: Path) -> None:
    path = socket_dir / "never.sock"
    with httpx.Client(timeout=1.0) as client:
        error = readiness.probe(client, f"unix:{path}")
    assert error == f"ConnectError: no socket at {path} (the server has not bound it, or removed it)"


def test_the_readiness_probe_reports_a_malformed_endpoint() -> None:
    with httpx.Client(timeout=1.0) as client:
        assert "expected http://host:port or unix:/absolute/path" in (readiness.probe(client, "tcp:9000") or "")
