"""Prometheus text exposition → flat samples, keyed by series (name and sorted labels).

The one place that reads the text format; everything after it works on `Samples`.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[SeriesKey, float]


class ExpositionError(ValueError):
    """A /metrics answer that is not Prometheus text."""


def series_key(name: str, labels: dict[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


def parse(text: str) -> Samples:
    """Every sample in `text` (counters keep their `_total`, histograms their `_bucket`/`_sum`/`_count`)."""
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[series_key(sample.name, sample.labels)] = float(sample.value)
    except ValueError as exc:
        raise ExpositionError(f"not Prometheus text: {exc}") from None
    return samples


def to_json(samples: Samples) -> list[list[object]]:
    """A JSON-safe form of `samples` (for keeping the previous scrape between task runs)."""
    return [[name, [list(pair) for pair in labels], value] for (name, labels), value in samples.items()]


def from_json(rows: list[list[object]]) -> Samples:
    samples: Samples = {}
    for name, labels, value in rows:
        pairs = tuple((str(k), str(v)) for k, v in labels)  # type: ignore[attr-defined]
        samples[(str(name), pairs)] = float(value)  # type: ignore[arg-type]
    return samples
