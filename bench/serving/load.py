"""Load runs with `wrk` and what they measured.

wrk is a C load generator (`apt-get install -y wrk`; `make bench` installs it): one thread
(`-t1`) with bench/serving/post.lua for the POST body is far cheaper than a Python client, so
the load generator is not the bottleneck.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

POST_SCRIPT = Path(__file__).resolve().parent / "post.lua"
CONCURRENCY = (1, 8, 64)


@dataclass(frozen=True)
class Run:
    server: str
    concurrency: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors (connect, read, write, timeout) plus non-2xx answers


@dataclass(frozen=True)
class Summary:
    """The median over a server's rounds at one concurrency; errors summed."""

    server: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (make bench installs it)")


def wrk(url: str, concurrency: int, duration_s: float) -> tuple[float, float, float, int]:
    """requests/s, p50 ms, p99 ms and errors of one wrk run against `url`."""
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--latency",
            "-s", str(POST_SCRIPT), url]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603 - numbers, our paths
    return parse(output)


def parse(output: str) -> tuple[float, float, float, int]:
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rps, _latency(output, "50%"), _latency(output, "99%"), errors + (int(non_2xx.group(1)) if non_2xx else 0)


def _latency(output: str, percentile: str) -> float:
    value, unit = _search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _search(pattern: str, text: str) -> re.Match[str]:
    """The first match of `pattern` (multiline); output without it stops the benchmark, saying what was missing."""
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"expected output not found: {pattern!r} in\n{text}")
    return match


def summarize(runs: list[Run]) -> dict[tuple[str, int], Summary]:
    """By (server, concurrency)."""
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.server, run.concurrency), []).append(run)
    return {key: Summary(key[0], key[1], statistics.median(r.rps for r in group),
                         statistics.median(r.p50_ms for r in group), statistics.median(r.p99_ms for r in group),
                         sum(r.errors for r in group))
            for key, group in groups.items()}
