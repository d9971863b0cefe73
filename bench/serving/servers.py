"""What the bench starts: each server as the processes that make it, how to start and stop them,
and how to tell that they answer correctly.

A `Server` is a recipe (argv per process, fresh ports and socket paths); `launch` starts it and
returns a `Running` holding its processes. Every server answers POST `predict_url` with the body
of bench/serving/post.lua, and must answer it with `iris.EXPECTED`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.serving.iris import EXPECTED, ROW, IrisModel

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MODEL_ID = "iris"
ROUTES_VERSION = "bench-1"
BATCHING = ("--max-batch-size", "64", "--max-batch-wait-ms", "2")
NO_BATCHING = ("--max-batch-size", "1")
SOCKET_PATH_MAX = 100  # AF_UNIX paths stop at 107 bytes
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.01


@dataclass(frozen=True)
class Part:
    """One process the bench spawns (it may fork workers of its own)."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Server:
    name: str
    parts: tuple[Part, ...]  # spawned in this order, stopped in reverse
    predict_url: str
    # A gateway is only measured once /health/ready names this routes version.
    ready_url: str | None = None
    routes_version: str | None = None
    # Where Berth's /metrics is (a replica): its URL and, for a replica on a Unix socket, the socket.
    metrics_url: str | None = None
    metrics_uds: str | None = None


@dataclass
class Running:
    server: Server
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: float = 0.0  # time.perf_counter() just before the first spawn


# --- recipes ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _python(*args: str) -> tuple[str, ...]:
    return (sys.executable, *args)


def _uvicorn(port: int, app: str, *options: str) -> tuple[str, ...]:
    return _python("-m", "uvicorn", "--host", HOST, "--port", str(port), "--workers", "2", *options, app)


def replica(model: IrisModel, *, batching: bool = True, name: str | None = None) -> Server:
    """`python -m serving.server` with 2 workers on a TCP port, called directly."""
    port = free_port()
    argv = _python("-m", "serving.server", "--build", str(model.bundle), "--host", HOST, "--port", str(port),
                   "--workers", "2", *(BATCHING if batching else NO_BATCHING))
    base = f"http://{HOST}:{port}"
    return Server(name or ("replica" if batching else "replica-nobatch"), (Part("replica", argv),),
                  f"{base}/v1/predict", metrics_url=f"{base}/metrics")


_sockets = itertools.count(1)


def gateway(model: IrisModel, work: Path) -> Server:
    """`python -m serving.gateway` on a TCP port in front of one batching replica on a Unix socket,
    as the local runtime connects them; the routes file is written now."""
    socket_dir = work / f"s{next(_sockets)}"
    socket_dir.mkdir(parents=True)
    sock = socket_dir / "server.sock"
    if len(str(sock)) > SOCKET_PATH_MAX:
        raise SystemExit(f"socket path {sock} is too long for AF_UNIX; set TMPDIR to a short directory")
    routes = socket_dir / "routes.json"
    routes.write_text(json.dumps({
        "version": ROUTES_VERSION, "model_id": MODEL_ID,
        "variations": [{"name": "main", "shadow": False, "traffic_percent": 100, "timeout_ms": 30_000,
                        "endpoints": [f"unix:{sock}"]}],
    }))
    port = free_port()
    replica_argv = _python("-m", "serving.server", "--build", str(model.bundle), "--uds", str(sock),
                           "--workers", "2", *BATCHING)
    gateway_argv = _python("-m", "serving.gateway", "--config", str(routes), "--host", HOST, "--port", str(port))
    base = f"http://{HOST}:{port}"
    return Server("gateway", (Part("gateway", gateway_argv), Part("replica", replica_argv)),
                  f"{base}/v1/models/{MODEL_ID}/predict", ready_url=f"{base}/health/ready",
                  routes_version=ROUTES_VERSION, metrics_url="http://replica/metrics", metrics_uds=str(sock))


def fastapi_numpy(model: IrisModel) -> Server:
    port = free_port()
    argv = _uvicorn(port, "bench.serving.reference_numpy:app")
    return Server("fastapi-numpy", (Part("uvicorn", argv, (("BENCH_MODEL", str(model.array_model)),)),),
                  f"http://{HOST}:{port}/v1/predict")


def fastapi_dataframe(model: IrisModel) -> Server:
    port = free_port()
    argv = _uvicorn(port, "bench.serving.reference_dataframe:app")
    return Server("fastapi-dataframe", (Part("uvicorn", argv, (("BENCH_MODEL", str(model.frame_model)),)),),
                  f"http://{HOST}:{port}/v1/predict")


def ceiling() -> Server:
    port = free_port()
    argv = _uvicorn(port, "bench.serving.ceiling:app", "--http", "httptools", "--loop", "uvloop", "--no-access-log")
    return Server("ceiling", (Part("uvicorn", argv),), f"http://{HOST}:{port}/v1/predict")


def every_server(model: IrisModel, work: Path) -> list[Server]:
    """The servers of one run, in the order of its first round."""
    return [replica(model), replica(model, batching=False), gateway(model, work), fastapi_numpy(model),
            fastapi_dataframe(model), ceiling()]


# --- processes -------------------------------------------------------------------------

def launch(server: Server, logs: Path) -> Running:
    """Spawn every part of `server` (one right after the other); output goes to logs/<server>-<part>.log."""
    logs.mkdir(parents=True, exist_ok=True)
    files = {part.name: (logs / f"{server.name}-{part.name}.log").open("ab") for part in server.parts}
    running = Running(server, started=time.perf_counter())
    try:
        for part in server.parts:
            running.processes[part.name] = subprocess.Popen(  # noqa: S603 - argv built above from sys.executable and constants
                part.argv, cwd=ROOT, stdout=files[part.name], stderr=subprocess.STDOUT,
                env={**os.environ, **dict(part.env)})
    finally:
        for file in files.values():
            file.close()  # the child holds its own copy
    return running


def stop(running: Running) -> None:
    """SIGTERM each part's parent (they drain and stop their workers), then kill whatever of the
    process tree is left after STOP_TIMEOUT_S."""
    for name in reversed(list(running.processes)):
        process = running.processes[name]
        try:
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        if process.poll() is None:
            process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=STOP_TIMEOUT_S)
        for leftover in alive:
            leftover.kill()
        process.wait()


def answers(client: httpx.Client, server: Server) -> bool:
    """One predict call: True when it is a 200 with the expected prediction."""
    try:
        response = client.post(server.predict_url, json=[ROW])
        return response.status_code == 200 and response.json() == EXPECTED
    except (httpx.TransportError, ValueError):  # not up yet, or not JSON (an error page)
        return False


def first_prediction_s(running: Running, client: httpx.Client, timeout_s: float = START_TIMEOUT_S) -> float:
    """Seconds from spawning `running` to its first correct prediction, polling every POLL_S."""
    deadline = running.started + timeout_s
    while time.perf_counter() < deadline:
        if answers(client, running.server):
            return time.perf_counter() - running.started
        _check_alive(running)
        time.sleep(POLL_S)
    raise SystemExit(f"{running.server.name} gave no correct prediction within {timeout_s:.0f} s; see its logs")


def wait_until_ready(running: Running, client: httpx.Client) -> None:
    """Until the server predicts correctly and, for a gateway, reports the routes version it was given."""
    first_prediction_s(running, client)
    server = running.server
    if server.ready_url is None:
        return
    deadline = time.perf_counter() + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.TransportError, ValueError):
            response = client.get(server.ready_url)
            if response.status_code == 200 and response.json().get("config_version") == server.routes_version:
                return
        time.sleep(POLL_S)
    raise SystemExit(f"{server.name}: /health/ready never reported config_version {server.routes_version}")


def _check_alive(running: Running) -> None:
    for name, process in running.processes.items():
        if process.poll() is not None:
            raise SystemExit(f"{running.server.name}: its {name} exited with {process.returncode}; see its log")


def batch_mean(server: Server) -> float | None:
    """Mean rows per predict batch since the replica started, from its /metrics; None when not Berth."""
    if server.metrics_url is None:
        return None
    transport = httpx.HTTPTransport(uds=server.metrics_uds) if server.metrics_uds else None
    with httpx.Client(transport=transport, timeout=5, trust_env=False) as client:
        text = client.get(server.metrics_url).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("berth_batch_size_sum", "berth_batch_size_count"):
            values[name] = float(value)
    if len(values) != 2:
        raise SystemExit(f"{server.name}: /metrics has no berth_batch_size_sum/_count")
    count = values["berth_batch_size_count"]
    return values["berth_batch_size_sum"] / count if count else 0.0
