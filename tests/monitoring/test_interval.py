"""A replica's interval from its model-server series, and several replicas added up."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.interval import IntervalStats, replica_stats, total
from monitoring.prometheus import ExpositionError, from_json, parse, to_json
from monitoring.rates import increases

# The shape serving/metrics.py exposes (docs/model-server.md, "Metrics"), trimmed to three buckets.
BEFORE = """
# TYPE berth_requests counter
berth_requests_total{code="200",path="/v1/predict"} 10.0
berth_requests_total{code="422",path="/v1/predict"} 1.0
berth_requests_total{code="200",path="/health/ready"} 50.0
# TYPE berth_request_duration_seconds histogram
berth_request_duration_seconds_bucket{le="0.01",path="/v1/predict"} 8.0
berth_request_duration_seconds_bucket{le="0.1",path="/v1/predict"} 11.0
berth_request_duration_seconds_bucket{le="+Inf",path="/v1/predict"} 11.0
berth_request_duration_seconds_count{path="/v1/predict"} 11.0
berth_request_duration_seconds_sum{path="/v1/predict"} 0.1
# TYPE berth_batch_size histogram
berth_batch_size_bucket{le="1.0"} 11.0
berth_batch_size_bucket{le="+Inf"} 11.0
berth_batch_size_count 11.0
berth_batch_size_sum 11.0
# TYPE berth_process_cpu_seconds counter
berth_process_cpu_seconds_total{pid="10",role="parent"} 3.0
berth_process_cpu_seconds_total{pid="11",role="worker"} 1.0
# TYPE berth_process_resident_memory_bytes gauge
berth_process_resident_memory_bytes{pid="10",role="parent"} 1000.0
berth_process_resident_memory_bytes{pid="11",role="worker"} 500.0
"""
AFTER = (BEFORE.replace('code="200",path="/v1/predict"} 10.0', 'code="200",path="/v1/predict"} 16.0')
         .replace('code="422",path="/v1/predict"} 1.0', 'code="422",path="/v1/predict"} 2.0')
         .replace('code="200",path="/health/ready"} 50.0', 'code="200",path="/health/ready"} 60.0')
         .replace('le="0.01",path="/v1/predict"} 8.0', 'le="0.01",path="/v1/predict"} 12.0')
         .replace('le="0.1",path="/v1/predict"} 11.0', 'le="0.1",path="/v1/predict"} 18.0')
         .replace('le="+Inf",path="/v1/predict"} 11.0', 'le="+Inf",path="/v1/predict"} 18.0')
         .replace("berth_batch_size_count 11.0", "berth_batch_size_count 14.0")
         .replace("berth_batch_size_sum 11.0", "berth_batch_size_sum 18.0")
         .replace('pid="11",role="worker"} 1.0', 'pid="11",role="worker"} 2.5'))


def test_only_predict_requests_count_as_traffic_with_4xx_and_5xx_apart() -> None:
    before, after = parse(BEFORE), parse(AFTER)
    stats = replica_stats(increases(before, after), after)
    assert (stats.requests, stats.errors_4xx, stats.errors_5xx) == (7, 1, 0)
    assert stats.latency_buckets == {0.01: 4, 0.1: 7, math.inf: 7}
    assert (stats.batch_rows, stats.batch_calls) == (7, 3)
    assert stats.cpu_seconds == 1.5
    assert stats.memory_bytes == 1500


def test_a_replica_seen_for_the_first_time_adds_memory_but_no_traffic() -> None:
    stats = replica_stats({}, parse(AFTER))
    assert (stats.requests, stats.latency_buckets, stats.memory_bytes, stats.replicas) == (0, {}, 1500, 1)


def test_replicas_add_up_bucket_by_bucket() -> None:
    one = IntervalStats(requests=3, errors_5xx=1, latency_buckets={0.1: 2, math.inf: 3}, memory_bytes=10, replicas=1)
    two = IntervalStats(requests=2, latency_buckets={0.1: 2, 1.0: 2, math.inf: 2}, replicas=1)
    both = total([one, two])
    assert (both.requests, both.errors_5xx, both.memory_bytes, both.replicas) == (5, 1, 10, 2)
    assert both.latency_buckets == {0.1: 4, 1.0: 2, math.inf: 5}


def test_samples_survive_their_json_form() -> None:
    samples = parse(AFTER)
    assert from_json(to_json(samples)) == samples


def test_it_reads_the_text_format_as_prometheus_client_does() -> None:
    text = AFTER + 'odd_total{a="x\\"y\\\\z\\nw",b="",} 3 1700000000000\nnot_a_number NaN\nlow -Inf\n'
    theirs = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for family in text_string_to_metric_families(text) for s in family.samples}
    ours = parse(text)
    assert math.isnan(ours.pop(("not_a_number", ())))
    assert math.isnan(theirs.pop(("not_a_number", ())))
    assert ours == theirs
    assert ours[("odd_total", (("a", 'x"y\\z\nw'), ("b", "")))] == 3


def test_an_answer_that_is_not_prometheus_text_is_refused() -> None:
    with pytest.raises(ExpositionError, match="line 2"):
        parse("# HELP fine\n<html>Not found</html>\n")
