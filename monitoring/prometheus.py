"""Prometheus text exposition → flat samples, keyed by series (name and sorted labels).

The one place that reads the text format; everything after it works on `Samples`. A sample line
is `name{label="value",…} value [timestamp]`; comments (`# HELP`, `# TYPE`) and blank lines carry
no samples. Read with two regular expressions rather than prometheus_client's parser, which
builds metric families and costs ~4 ms per model-server answer (~0.3 ms here): at 100 replicas
every 10 s that was most of the console's scrape CPU.
"""

from __future__ import annotations

import re
from functools import lru_cache

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[SeriesKey, float]


class ExpositionError(ValueError):
    """A /metrics answer that is not Prometheus text."""


def series_key(name: str, labels: dict[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse(text: str) -> Samples:
    """Every sample in `text` (counters keep their `_total`, histograms their `_bucket`/`_sum`/`_count`)."""
    samples: Samples = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#") or line.isspace():
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise ExpositionError(f"not Prometheus text: line {number}: {line[:200]!r}")
        name, labels, value = match.groups()
        samples[(name, _labels(labels) if labels else ())] = _value(value, number)
    return samples


@lru_cache(maxsize=8192)  # every replica writes the same label sets, scrape after scrape
def _labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs, position = [], 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            raise ExpositionError(f"not Prometheus text: bad labels {text[:200]!r}")
        value = match.group(2)
        pairs.append((match.group(1), _unescape(value) if "\\" in value else value))
        position = match.end()
    return tuple(sorted(pairs))


def _unescape(value: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], value)


def _value(text: str, number: int) -> float:
    try:
        return float(text)  # also +Inf, -Inf and NaN, as the format writes them
    except ValueError:
        raise ExpositionError(f"not Prometheus text: line {number}: value {text[:50]!r}") from None


def to_json(samples: Samples) -> list[list[object]]:
    """A JSON-safe form of `samples` (for keeping the previous scrape between task runs)."""
    return [[name, [list(pair) for pair in labels], value] for (name, labels), value in samples.items()]


def from_json(rows: list[list[object]]) -> Samples:
    samples: Samples = {}
    for name, labels, value in rows:
        pairs = tuple((str(k), str(v)) for k, v in labels)  # type: ignore[attr-defined]
        samples[(str(name), pairs)] = float(value)  # type: ignore[arg-type]
    return samples
