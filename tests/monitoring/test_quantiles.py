"""Percentiles from histogram buckets, as Prometheus's histogram_quantile interpolates them."""

from __future__ import annotations

import math

import pytest

from monitoring.quantiles import histogram_quantile

INF = math.inf


def test_it_interpolates_linearly_inside_the_bucket_holding_the_rank() -> None:
    buckets = {0.1: 0, 0.2: 10, INF: 10}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.199)


def test_the_first_bucket_starts_at_zero() -> None:
    assert histogram_quantile(0.5, {0.1: 10, 1.0: 10, INF: 10}) == pytest.approx(0.05)


def test_it_answers_the_highest_finite_bound_when_the_rank_is_in_the_inf_bucket() -> None:
    assert histogram_quantile(0.99, {0.1: 0, 0.5: 5, INF: 10}) == 0.5


def test_it_skips_empty_buckets_below_the_rank() -> None:
    buckets = {0.001: 0, 0.01: 0, 0.1: 0, 1.0: 4, INF: 4}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.9 * 0.5)


def test_no_observations_is_no_data_not_zero() -> None:
    assert histogram_quantile(0.5, {0.1: 0, INF: 0}) is None
    assert histogram_quantile(0.5, {}) is None


def test_buckets_without_inf_are_not_a_histogram() -> None:
    assert histogram_quantile(0.5, {0.1: 3, 0.2: 5}) is None


def test_a_cumulative_count_that_dips_is_treated_as_flat() -> None:
    # a scrape racing a write can show a later bucket one short; Prometheus fixes it the same way
    assert histogram_quantile(0.5, {0.1: 6, 0.2: 5, INF: 6}) == pytest.approx(0.1 * 3 / 6)


def test_a_quantile_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        histogram_quantile(1.5, {0.1: 1, INF: 1})
