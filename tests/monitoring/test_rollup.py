"""Down-sampling raw points into one-minute points and those into ten-minute points, reading each range at its
resolution, and dropping points past their retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment, Model
from monitoring.interval import IntervalStats
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from monitoring.rollup import prune, roll_up, step_end
from monitoring.series import read_series
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = pytest.mark.django_db
INF = float("inf")
NOW = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)  # a scrape interval after 11:59-12:00 ended


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def raw(deployment: Deployment, at: datetime, requests: int, fast: int, memory: float, ready: int = 1) -> MetricPoint:
    stats = IntervalStats(requests=requests, errors_4xx=1, latency_buckets={0.01: fast, 0.1: requests, INF: requests},
                          batch_rows=requests, batch_calls=requests, cpu_seconds=2.0, memory_bytes=memory)
    point = MetricPoint.of(deployment.pk, "default", at, 10.0, stats, (ready, 1), 10)
    point.save()
    return point


def test_a_step_ends_on_the_minute_and_a_time_on_the_boundary_closes_it() -> None:
    assert step_end(datetime(2026, 3, 1, 11, 59, 1, tzinfo=UTC), 60) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert step_end(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), 60) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_finished_minute_adds_up_its_raw_points_exactly(deployment):
    minute = datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    for second, requests, fast in ((10, 10, 10), (20, 30, 0), (30, 20, 10), (40, 0, 0), (50, 0, 0), (60, 0, 0)):
        raw(deployment, minute + timedelta(seconds=second), requests, fast, memory=100.0 * requests,
            ready=0 if second == 60 else 1)
    raw(deployment, NOW, 99, 99, memory=1)  # in the minute still running: not rolled up yet

    [point] = roll_up(NOW)

    assert (point.time, point.resolution_s, point.interval_s) == (minute + timedelta(minutes=1), 60, 60.0)
    assert (point.requests, point.errors_4xx, point.cpu_seconds) == (60, 6, 12.0)
    assert point.latency_buckets == {"0.01": 20, "0.1": 60, "+Inf": 60}
    assert point.latency_p50_s == pytest.approx(0.01 + 0.09 * (30 - 20) / 40)  # the 30th of 60 requests
    values = point.chart_values()
    assert (values["throughput_rps"], values["error_rate_4xx_pct"], values["cpu_pct"]) == (1.0, 10.0, 20.0)
    assert values["memory_bytes"] == 1000.0  # the mean, not the sum
    assert values["batch_size_mean"] == 1.0
    assert (point.ready_replicas, point.desired_replicas) == (0, 1)  # the last value of the minute


def test_a_minute_waits_a_scrape_interval_after_it_ends_for_a_scrape_still_storing(deployment):
    raw(deployment, datetime(2026, 3, 1, 11, 59, 30, tzinfo=UTC), 10, 10, memory=1)
    assert roll_up(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)) == []
    assert len(roll_up(NOW)) == 1


def test_a_minute_is_rolled_up_once(deployment):
    raw(deployment, datetime(2026, 3, 1, 11, 59, 30, tzinfo=UTC), 10, 10, memory=1)
    assert len(roll_up(NOW)) == 1
    assert roll_up(NOW + timedelta(seconds=10)) == []
    assert MetricPoint.objects.filter(resolution_s=60).count() == 1


def test_points_past_their_retention_go(deployment):
    kept = raw(deployment, NOW - timedelta(hours=23), 1, 1, memory=1)
    raw(deployment, NOW - timedelta(hours=25), 1, 1, memory=1)
    old_minute = MetricPoint.of(deployment.pk, "default", NOW - timedelta(days=8), 60, IntervalStats(), (1, 1), 60)
    recent_minute = MetricPoint.of(deployment.pk, "default", NOW - timedelta(days=6), 60, IntervalStats(), (1, 1), 60)
    MetricPoint.objects.bulk_create([old_minute, recent_minute])

    assert prune(NOW) == 2

    assert set(MetricPoint.objects.values_list("pk", flat=True)) == {kept.pk, recent_minute.pk}


def minute_point(deployment: Deployment, end: datetime, requests: int, variation: str = "default") -> MetricPoint:
    stats = IntervalStats(requests=requests, latency_buckets={0.01: requests, INF: requests})
    point = MetricPoint.of(deployment.pk, variation, end, 60.0, stats, (1, 1), 60)
    point.save()
    return point


def test_ten_finished_minutes_add_up_into_one_ten_minute_point_once_the_last_minute_is_rolled_up(deployment):
    for minute in range(1, 11):  # the minutes ending 11:51 … 12:00
        minute_point(deployment, datetime(2026, 3, 1, 11, 50, tzinfo=UTC) + timedelta(minutes=minute), 6 * minute)

    assert roll_up(datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)) == []  # 12:00's minute may still be rolling up
    [point] = roll_up(datetime(2026, 3, 1, 12, 1, 15, tzinfo=UTC))

    assert (point.time, point.resolution_s, point.interval_s) == (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 600, 600.0)
    assert point.requests == 6 * sum(range(1, 11))
    assert point.chart_values()["throughput_rps"] == pytest.approx(330 / 600)
    assert roll_up(datetime(2026, 3, 1, 12, 1, 25, tzinfo=UTC)) == []  # once


def test_each_range_reads_its_own_resolution(deployment):
    now = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
    for seconds_ago, resolution in ((30, 10), (3 * 3600, 10), (5 * 3600, 60), (3 * 86400, 60), (3 * 86400, 600)):
        at = now - timedelta(seconds=seconds_ago)
        MetricPoint.of(deployment.pk, WHOLE_DEPLOYMENT, at, float(resolution),
                       IntervalStats(requests=resolution), (1, 1), resolution).save()

    def read(range_name: str) -> tuple[int, list[float | None]]:
        series = read_series(deployment.pk, range_name, now)
        return series.resolution_s, series.metrics["throughput_rps"]

    assert read("1h") == (10, [1.0])
    assert read("6h") == (10, [1.0, 1.0])
    assert read("24h") == (60, [1.0])  # the minute five hours ago; the raw points are not read again
    assert read("7d") == (600, [1.0])
