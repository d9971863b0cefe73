"""Counters into increases between two scrapes: resets, new and vanished series, gauges left alone."""

from __future__ import annotations

from monitoring.prometheus import series_key
from monitoring.rates import increase, increases, reset_detected

PREDICT_200 = series_key("berth_requests_total", {"path": "/v1/predict", "code": "200"})
PREDICT_500 = series_key("berth_requests_total", {"path": "/v1/predict", "code": "500"})
MEMORY = series_key("berth_process_resident_memory_bytes", {"pid": "7", "role": "worker"})


def test_a_counter_that_grew_increased_by_the_difference() -> None:
    assert increase(10, 25) == 15


def test_a_counter_that_went_down_was_reset_and_counts_from_zero() -> None:
    assert increase(1000, 7) == 7


def test_a_series_that_appears_in_a_replica_scraped_before_counts_from_zero() -> None:
    previous = {PREDICT_200: 5.0}
    current = {PREDICT_200: 8.0, PREDICT_500: 2.0}  # the replica's first two 500s made that series appear
    assert increases(previous, current) == {PREDICT_200: 3.0, PREDICT_500: 2.0}


def test_gauges_have_no_increase() -> None:
    assert increases({MEMORY: 100.0}, {MEMORY: 50.0}) == {}


def test_a_restarted_replica_counts_what_it_served_since_its_restart() -> None:
    previous = {PREDICT_200: 500.0, PREDICT_500: 3.0}
    current = {PREDICT_200: 4.0, PREDICT_500: 3.0}
    assert increases(previous, current) == {PREDICT_200: 4.0, PREDICT_500: 0.0}
    assert reset_detected(previous, current)
    assert not reset_detected(current, {PREDICT_200: 9.0, PREDICT_500: 3.0})
