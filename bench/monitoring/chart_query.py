"""Chart query time: a week of stored points at 10 replicas, read back as the charts and the API read them.

One deployment of `replicas` replicas (one variation) gets a week of points (bench/monitoring/
chart_data.py); `neighbours` other deployments get the same rows, so the table holds what a
console with several deployments holds and an index that only narrows by time would show it.
The table is then ANALYZEd (as autovacuum would have done long before a week passed).

For each range: monitoring.series.read_series (the function the chart and the API call) and
GET /api/v1/deployments/<pk>/metrics/?range=… through the whole Django stack with a logged-in
session (django.test.Client: middleware, DRF, access check, JSON rendering; no network), each
`runs` times after WARM_UP runs, with p50/p95/max. The database's own plan for the range query
(EXPLAIN (ANALYZE, BUFFERS) of the exact SQL read_series sent) is kept for the report.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.monitoring import chart_data, fleet, postgres_cpu
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from monitoring.series import COLUMNS, read_series, resolution_s
from monitoring.series import RANGES as SERIES_RANGES

RANGES = ("7d", "24h", "1h")
WARM_UP = 3
TARGET_MS = 200.0


@dataclass(frozen=True)
class Timing:
    how: str
    range: str
    points: int
    payload_bytes: int
    ms: list[float]  # wall time of each run
    cpu_ms: list[float]  # this process's CPU time of each run (what a busy machine cannot inflate much)
    postgres_cpu_ms: float  # the PostgreSQL backend's CPU per run, the mean (its clock ticks are 10 ms)

    def quantile(self, q: float, cpu: bool = False) -> float:
        ordered = sorted(self.cpu_ms if cpu else self.ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def p50(self, cpu: bool = False) -> float:
        return statistics.median(self.cpu_ms if cpu else self.ms)


@dataclass(frozen=True)
class ChartQuery:
    replicas: int
    deployments: int
    rows: int
    table_mb: float
    insert_s: float
    timings: list[Timing]
    plans: dict[str, str]  # range → EXPLAIN ANALYZE text


def measure(owner: fleet.Owner, replicas: int, neighbours: int, runs: int) -> ChartQuery:
    endpoints = [f"http://127.0.0.1:{1 + n}" for n in range(replicas)]  # never scraped here
    deployments = [fleet.serving_deployment(owner, f"chart-{n}", endpoints, "http://127.0.0.1:1")
                   for n in range(neighbours + 1)]
    measured = deployments[0]
    now = timezone.now()
    began = time.perf_counter()
    week = chart_data.week_of_points(measured.pk, "default", replicas, now)
    rows = chart_data.store(week)
    for other in deployments[1:]:
        rows += chart_data.store(chart_data.for_deployment(week, other.pk))
    insert_s = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_metricpoint")
        cursor.execute("SELECT pg_total_relation_size('monitoring_metricpoint')")
        table_mb = cursor.fetchone()[0] / 2**20
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner.user)
    timings, plans = [], {}
    for range_name in RANGES:
        # Each run asks for "now" anew, as a page does: the window slides a little, the work is the same.
        series = read_series(measured.pk, range_name, timezone.now())
        timings.append(_time("read_series()", range_name, len(series.times), 0, runs,
                             functools.partial(_read, measured.pk, range_name)))
        url = f"/api/v1/deployments/{measured.pk}/metrics/?range={range_name}"
        answer = client.get(url)
        assert answer.status_code == 200, answer.content[:500]
        timings.append(_time("GET …/metrics/ (session)", range_name, len(answer.json()["times"]),
                             len(answer.content), runs, functools.partial(_get, client, url)))
        if range_name == "7d":  # where the time goes: the rows alone, as read_series fetches them
            timings.append(_time("its rows alone (.values())", range_name, len(series.times), 0, runs,
                                 functools.partial(_rows, measured.pk, range_name)))
        plans[range_name] = _plan(measured.pk, range_name)
    return ChartQuery(replicas, len(deployments), rows, table_mb, insert_s, timings, plans)


def _read(deployment_id: int, range_name: str) -> None:
    read_series(deployment_id, range_name, timezone.now())


def _rows(deployment_id: int, range_name: str) -> None:
    """The query set read_series iterates (monitoring/series.py), fetched without computing chart values."""
    now, step = timezone.now(), resolution_s(range_name)
    rows = MetricPoint.objects.filter(deployment_id=deployment_id, variation=WHOLE_DEPLOYMENT,
                                      time__gt=now - SERIES_RANGES[range_name], time__lte=now).order_by("time")
    rows = rows.filter(resolution_s=step) if step != settings.BERTH_METRICS_SCRAPE_S else \
        rows.filter(resolution_s__lt=settings.BERTH_METRICS_ROLLUP_S)
    list(rows.values(*COLUMNS))


def _get(client: Client, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 200


def _time(how: str, range_name: str, points: int, payload: int, runs: int, call: Callable[[], object]) -> Timing:
    for _ in range(WARM_UP):
        call()
    postgres = postgres_cpu.backend()
    ms, cpu_ms = [], []
    postgres_before = postgres_cpu.cpu_seconds(postgres)
    for _ in range(runs):
        began, cpu = time.perf_counter(), time.process_time()
        call()
        ms.append((time.perf_counter() - began) * 1000)
        cpu_ms.append((time.process_time() - cpu) * 1000)
    return Timing(how, range_name, points, payload, ms, cpu_ms, (postgres_cpu.cpu_seconds(postgres) - postgres_before) * 1000 / runs)


def _plan(deployment_id: int, range_name: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the point query read_series sends, as PostgreSQL ran it."""
    with CaptureQueriesContext(connection) as queries:
        read_series(deployment_id, range_name, timezone.now())
    sql = next(q["sql"] for q in queries.captured_queries if MetricPoint._meta.db_table in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")  # Django's own SQL, its values inlined by it
        return "\n".join(row[0] for row in cursor.fetchall())
