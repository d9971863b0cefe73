"""Time the model server's request coercion (records -> typed DataFrame in schema order).

    .venv/bin/python -m bench.schema_coercion

Prints the median time for one iris record (the per-request cost at concurrency 1) and
for 100,000 records (a large batch), so a change that makes coercion per-row slow shows.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

from serving.schema import Schema, coerce_frame, infer_input_schema

RECORD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SCHEMA = Schema.from_list(infer_input_schema([RECORD]))


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    one = [dict(reversed(RECORD.items()))]  # fields out of order, as clients send them
    many = [RECORD] * 100_000
    print(f"{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"one record:       {median_seconds(lambda: coerce_frame(one, SCHEMA), 2000) * 1e6:8.1f} µs")
    print(f"100,000 records:  {median_seconds(lambda: coerce_frame(many, SCHEMA), 7) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
