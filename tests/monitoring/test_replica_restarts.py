"""A replica whose process was started again counts from zero, whatever its counters show."""

from __future__ import annotations

from monitoring import prometheus
from monitoring.collect import replica_increases
from monitoring.prometheus import series_key
from monitoring.targets import Target

PREDICT_200 = series_key("berth_requests_total", {"path": "/v1/predict", "code": "200"})


def baseline(starts: int, count: float) -> dict:
    return {"starts": starts, "samples": prometheus.to_json({PREDICT_200: count})}


def test_a_replica_started_again_counts_everything_since_even_past_its_old_figure() -> None:
    target = Target("default", "default-abc-0", "http://127.0.0.1:1", starts=2)
    assert replica_increases(baseline(1, 20), target, {PREDICT_200: 25}) == {PREDICT_200: 25}


def test_the_same_process_counts_what_it_added() -> None:
    target = Target("default", "default-abc-0", "http://127.0.0.1:1", starts=1)
    assert replica_increases(baseline(1, 20), target, {PREDICT_200: 25}) == {PREDICT_200: 5}


def test_a_replica_without_a_baseline_counts_nothing_yet() -> None:
    target = Target("default", "default-abc-0", "http://127.0.0.1:1", starts=1)
    assert replica_increases(None, target, {PREDICT_200: 25}) == {}
