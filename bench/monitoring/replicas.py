"""Simulated replicas (and gateways) for the scrape benchmark: one process answering `/metrics` for them all.

    python -m bench.monitoring.replicas --count 100 --dir /tmp/x [--transport unix|tcp] [--gateways 10]

Each simulated replica keeps its own serving.metrics.ServerMetrics (the model server's own
`berth_*` series, rendered by prometheus_client as the server renders them, without `_created`
samples as in its multiprocess mode) and CPU/memory series for a parent and two workers. Every
`/metrics` request first records the traffic of a scrape interval (predictions, a few 4xx, health
checks, batches), so counters and histogram buckets advance as a busy replica's do. Unix sockets
are `<dir>/r<i>.sock` (as the local runtime's `unix:` endpoints); with tcp, ports are picked by the
kernel. Each of `--gateways` simulated gateways (serving.gateway_metrics.GatewayMetrics, on a TCP
port as a deployment's `gateway_url`) records, per scrape, the predictions of `--per-gateway`
replicas. Once everything listens it prints one JSON line, `{"endpoints": [...], "gateways": [...]}`,
and serves until stdin closes (the bench's end) or it is killed. Nothing here imports Django.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from serving.gateway_metrics import GatewayMetrics
from serving.metrics import CONTENT_TYPE, ServerMetrics

PREDICTIONS_PER_SCRAPE = 200  # 20 requests/s per replica at the default 10 s interval
HEAD_LIMIT = 64 * 1024


class FakeProcesses:
    """A parent and two workers whose CPU seconds grow and memory wobbles, labelled as serving.metrics does."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cpu = [0.0, 0.0, 0.0]
        self.pids = [rng.randrange(1000, 4_000_000) for _ in range(3)]

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily("berth_process_cpu_seconds", "CPU time used by a server process",
                                  labels=["pid", "role"])
        memory = GaugeMetricFamily("berth_process_resident_memory_bytes", "Resident memory of a server process",
                                   labels=["pid", "role"])
        for index, pid in enumerate(self.pids):
            role = "parent" if index == 0 else "worker"
            self.cpu[index] += self.rng.uniform(0.5, 2.5)
            cpu.add_metric([str(pid), role], self.cpu[index])
            memory.add_metric([str(pid), role], self.rng.uniform(140e6, 160e6))
        yield cpu
        yield memory


class Replica:
    """One simulated replica's registry; `body()` records an interval's traffic, then renders it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - made-up traffic, repeatable
        self.metrics = ServerMetrics()
        self.registry = CollectorRegistry(auto_describe=False)
        m = self.metrics
        for metric in (m.requests, m.latency, m.in_flight, m.batch_size, m.predict_seconds, m.load_seconds,
                       m.ready, m.errors):
            self.registry.register(metric)
        self.registry.register(FakeProcesses(self.rng))
        m.load_seconds.set(1.8)
        for worker in ("0", "1"):
            m.ready.labels(worker).set(1)

    def body(self) -> bytes:
        m, rng = self.metrics, self.rng
        for _ in range(PREDICTIONS_PER_SCRAPE):
            m.observe_request("/v1/predict", 200, rng.lognormvariate(-6.0, 0.6))
        for _ in range(rng.randrange(0, 4)):
            m.observe_request("/v1/predict", 422, rng.lognormvariate(-7.0, 0.3))
            m.errors.labels("validation").inc()
        for path in ("/health/live", "/health/ready", "/metrics"):
            m.observe_request(path, 200, rng.lognormvariate(-8.0, 0.3))
        for _ in range(PREDICTIONS_PER_SCRAPE // 4):
            m.observe_batch(rng.randrange(1, 9), rng.lognormvariate(-7.0, 0.5))
        return generate_latest(self.registry)


class Gateway:
    """One simulated gateway; `body()` records an interval's predictions through it, then renders them."""

    def __init__(self, seed: int, replicas: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - made-up traffic, repeatable
        self.replicas = replicas
        self.metrics = GatewayMetrics()
        self.metrics.config_version = "bench-1"

    def body(self) -> bytes:
        rng = self.rng
        for _ in range(PREDICTIONS_PER_SCRAPE * self.replicas):
            self.metrics.observe("default", 200, rng.lognormvariate(-5.8, 0.6))
        for _ in range(rng.randrange(0, 20)):
            self.metrics.observe("default", 422, rng.lognormvariate(-6.8, 0.3))
        return self.metrics.render()


def _response(body: bytes) -> bytes:
    head = (f"HTTP/1.1 200 OK\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    return head + body


def handler(replica: Replica | Gateway) -> object:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on the connection
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > HEAD_LIMIT:
                    break
                if head.startswith(b"GET /metrics "):
                    writer.write(_response(replica.body()))
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
    return serve


async def serve_all(count: int, folder: Path, transport: str, gateways: int, per_gateway: int) -> None:
    servers, endpoints, gateway_urls = [], [], []
    for index in range(count):
        replica = Replica(seed=index)
        if transport == "unix":
            path = folder / f"r{index}.sock"
            servers.append(await asyncio.start_unix_server(handler(replica), path=str(path)))  # type: ignore[arg-type]
            endpoints.append(f"unix:{path}")
        else:
            server = await asyncio.start_server(handler(replica), "127.0.0.1", 0)  # type: ignore[arg-type]
            servers.append(server)
            endpoints.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    for index in range(gateways):
        server = await asyncio.start_server(handler(Gateway(-1 - index, per_gateway)), "127.0.0.1", 0)  # type: ignore[arg-type]
        servers.append(server)
        gateway_urls.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    print(json.dumps({"endpoints": endpoints, "gateways": gateway_urls}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the bench closes our stdin
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--transport", choices=("unix", "tcp"), default="unix")
    parser.add_argument("--gateways", type=int, default=0)
    parser.add_argument("--per-gateway", type=int, default=10, help="replicas whose traffic each gateway counts")
    args = parser.parse_args()
    prometheus_client.disable_created_metrics()  # the server's multiprocess rendering has no _created samples
    asyncio.run(serve_all(args.count, args.dir, args.transport, args.gateways, args.per_gateway))


if __name__ == "__main__":
    main()
