"""`berth deployments metrics`: a deployment's stored health series over a range, against a live console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, Model
from monitoring.interval import IntervalStats
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from tests.cli.run import berth
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import token_for

pytestmark = pytest.mark.django_db(transaction=True)
INF = float("inf")


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))


def store(deployment: Deployment, seconds_ago: int, requests: int, variation: str = WHOLE_DEPLOYMENT) -> None:
    stats = IntervalStats(requests=requests, errors_5xx=1, latency_buckets={0.01: requests - 1, 0.1: requests,
                                                                            INF: requests}, memory_bytes=2 * 2**20)
    MetricPoint.of(deployment.pk, variation, timezone.now() - timedelta(seconds=seconds_ago), 10.0, stats,
                   (2, 2), 10).save()


def rows(out: str) -> dict[str, list[str]]:
    """The table's rows by metric name (after the heading line and the column names)."""
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}


def test_it_prints_the_latest_value_and_min_avg_max_of_each_metric(live_console, deployment, bob):
    store(deployment, 30, requests=20)  # 2 req/s, 5 % 5xx
    store(deployment, 20, requests=40)  # 4 req/s, 2.5 % 5xx
    store(deployment, 20, requests=7, variation="default")
    result = berth("deployments", "metrics", "--model-id", "iris", "--range", "15m", url=live_console,
                   token=token_for(bob))  # a viewer may read them
    assert result.code == 0, result.err
    assert result.out.startswith("iris (production, all variations), last 15m: 2 points, one every 10 s")
    table = rows(result.out)
    assert result.out.splitlines()[1].split() == ["METRIC", "UNIT", "LATEST", "MIN", "AVG", "MAX"]
    assert table["throughput_rps"] == ["req/s", "4", "2", "3", "4"]
    assert table["error_rate_5xx_pct"] == ["%", "2.5", "2.5", "3.75", "5"]
    assert table["memory_bytes"] == ["MiB", "2", "2", "2", "2"]
    assert table["desired_replicas"] == ["2", "2", "2", "2"]  # no unit
    assert table["batch_size_mean"] == ["rows", "-", "-", "-", "-"]  # no batch counted: no data, not zero

    one = berth("deployments", "metrics", "--model-id", "iris", "--variation", "default", "--range", "15m",
                url=live_console, token=token_for(bob))
    assert one.out.startswith("iris (production, variation default), last 15m: 1 points"), one.out
    assert rows(one.out)["throughput_rps"] == ["req/s", "0.7", "0.7", "0.7", "0.7"]


def test_json_passes_the_api_answer_as_it_is(live_console, deployment, alice):
    store(deployment, 30, requests=20)
    answer = berth("deployments", "metrics", "--model-id", "iris", "--range", "1h", "--json", url=live_console,
                   token=token_for(alice)).json()
    assert (answer["deployment"], answer["range"], answer["variation"], len(answer["times"])) == \
           (deployment.pk, "1h", "", 1)
    assert answer["metrics"]["throughput_rps"] == [2.0]


def test_without_points_it_says_no_data_yet(live_console, deployment, alice):
    store(deployment, 2 * 3600, requests=20)  # older than the hour asked for
    result = berth("deployments", "metrics", "--model-id", "iris", url=live_console, token=token_for(alice))
    assert result.succeeded_saying("iris (production, all variations), last 1h: no data yet."), result.err
    assert "METRIC" not in result.out


def test_an_outsider_and_an_unknown_range_are_refused(live_console, deployment, other_project, charlie, alice):
    outsider = berth("deployments", "metrics", "--model-id", "iris", url=live_console, token=token_for(charlie))
    assert outsider.failed_saying("has no production deployment"), outsider.err
    bad_range = berth("deployments", "metrics", "--model-id", "iris", "--range", "2h", url=live_console,
                      token=token_for(alice))
    assert bad_range.failed_saying("invalid choice: '2h'", code=2), bad_range.err
