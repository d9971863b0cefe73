"""Scrape cost: the console's CPU for one round of the periodic metrics task, by replica count.

Each deployment has `per_deployment` simulated replicas and a simulated gateway (its `gateway_url`),
which the collector scrapes too (monitoring.targets.targets_of). A round is
`monitoring.tasks.scrape_metrics()` run in this process, as the Celery worker runs it: for every
serving deployment, monitoring.collect.collect (targets from the launch records, `/metrics` of each
replica and of the gateway, increases, points stored), then roll-up, pruning and telling open
pages about new points over the channel layer (Redis). Rounds start BERTH_METRICS_SCRAPE_S apart,
as beat schedules them; the first only takes the baselines (no points) and is not counted.

Per round: this process's CPU seconds (time.process_time: every thread), the PostgreSQL backend
process's CPU seconds (its own process, read with psutil), and the wall time. Between rounds the
same targets are fetched and parsed alone (monitoring.scrape.scrape_all, nothing stored), which
tells how much of the round's CPU is HTTP and parsing.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench.monitoring import fleet, postgres_cpu
from monitoring.models import MetricPoint
from monitoring.scrape import scrape_all
from monitoring.targets import Target, targets_of
from monitoring.tasks import scrape_metrics
from serving import endpoints

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RoundFigures:
    cpu_s: float
    postgres_cpu_s: float
    wall_s: float
    points: int
    scrape_only_cpu_s: float
    scrape_only_wall_s: float
    answered: int


@dataclass(frozen=True)
class Body:
    """One `/metrics` answer's size."""
    bytes: int
    samples: int

    @classmethod
    def of(cls, text: str) -> Body:
        return cls(len(text.encode()), sum(1 for line in text.splitlines() if line and not line.startswith("#")))


@dataclass(frozen=True)
class ScrapeCost:
    replicas: int
    deployments: int
    transport: str
    rounds: list[RoundFigures]
    replica_body: Body
    gateway_body: Body

    def median(self, field: str) -> float:
        return statistics.median(getattr(r, field) for r in self.rounds)

    def cpu_pct_at_interval(self) -> float:
        """The median round's CPU as a share of one core, one round every BERTH_METRICS_SCRAPE_S."""
        return 100 * self.median("cpu_s") / settings.BERTH_METRICS_SCRAPE_S


@contextlib.contextmanager
def simulated_replicas(count: int, per_deployment: int, folder: Path,
                       transport: str) -> Iterator[tuple[list[str], list[str]]]:
    """The simulator process (bench/monitoring/replicas.py) serving `count` replicas and a gateway per
    `per_deployment` of them; the replicas' endpoints and the gateways' URLs."""
    folder.mkdir(parents=True, exist_ok=True)
    gateways = -(-count // per_deployment)
    argv = [sys.executable, "-m", "bench.monitoring.replicas", "--count", str(count), "--dir", str(folder),
            "--transport", transport, "--gateways", str(gateways), "--per-gateway", str(per_deployment)]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603 - ours
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once every replica listens
        if not line:
            raise RuntimeError(f"the simulated replicas exited with code {process.wait(START_TIMEOUT_S)}")
        answer = json.loads(line)
        yield answer["endpoints"], answer["gateways"]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(replicas: int, per_deployment: int, rounds: int, work: Path, transport: str,
            owner: fleet.Owner) -> ScrapeCost:
    """`rounds` counted rounds of the task over `replicas` simulated replicas, `per_deployment` a deployment."""
    with simulated_replicas(replicas, per_deployment, work / f"replicas-{replicas}", transport) as (endpoints,
                                                                                                    gateways):
        deployments = [fleet.serving_deployment(owner, f"scrape-{replicas}-{start}",
                                                endpoints[start:start + per_deployment], gateway)
                       for start, gateway in zip(range(0, replicas, per_deployment), gateways, strict=True)]
        try:
            first = targets_of(deployments[0])
            replica_body = _body(first.replicas[0])
            gateway_body = _body(first.gateways[0])
            figures = _rounds(deployments, rounds)
        finally:
            for deployment in deployments:
                fleet.remove(deployment)
    return ScrapeCost(replicas, len(deployments), transport, figures, Body.of(replica_body), Body.of(gateway_body))


def _rounds(deployments: list, rounds: int) -> list[RoundFigures]:
    postgres = postgres_cpu.backend()
    interval = settings.BERTH_METRICS_SCRAPE_S
    targets = [t for d in deployments for ts in [targets_of(d)] for t in (*ts.replicas, *ts.gateways)]
    figures = []
    start = time.monotonic()
    for number in range(rounds + 1):  # round 0 only takes the baselines
        time.sleep(max(0.0, start + number * interval - time.monotonic()))
        points_before = MetricPoint.objects.count()
        cpu, pg, wall = time.process_time(), postgres_cpu.cpu_seconds(postgres), time.perf_counter()
        scrape_metrics()
        cpu, pg, wall = time.process_time() - cpu, postgres_cpu.cpu_seconds(postgres) - pg, time.perf_counter() - wall
        points = MetricPoint.objects.count() - points_before
        only_cpu, only_wall = time.process_time(), time.perf_counter()
        answered = len(scrape_all(targets))
        only_cpu, only_wall = time.process_time() - only_cpu, time.perf_counter() - only_wall
        if number == 0:
            continue
        figures.append(RoundFigures(cpu, pg, wall, points, only_cpu, only_wall, answered))
    return figures


def _body(target: Target) -> str:
    endpoint = endpoints.Endpoint.parse(target.endpoint)
    with endpoints.client(endpoint, timeout=5) as client:
        return client.get(endpoint.url("/metrics")).text
