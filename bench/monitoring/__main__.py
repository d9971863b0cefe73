"""Metrics collection benchmarks: the console's scrape cost and the chart query time (issue 13, "Speed").

    nice -n 5 .venv/bin/python -m bench.monitoring [--replicas 10,100,300] [--rounds 6]
        [--per-deployment 10] [--transport unix|tcp] [--chart-replicas 10] [--neighbours 9]
        [--runs 50] [--skip-scrape] [--skip-chart] [--out docs/benchmarks.md]

Needs the local PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as the tests do). It
creates a throwaway database `berth_bench_<pid>`, migrates it and drops it at the end
(bench/monitoring/database.py); the data directory is a temporary folder.

Scrape cost (bench/monitoring/scrape_cost.py): for each count in `--replicas`, one separate process
simulates that many replicas answering `/metrics` with the model server's own series
(bench/monitoring/replicas.py; Unix sockets as the local runtime's `unix:` endpoints, or TCP), and
the console's rows and launch records say `--per-deployment` replicas a deployment serve there.
The real periodic task, monitoring.tasks.scrape_metrics, then runs in this process every
BERTH_METRICS_SCRAPE_S (10 s): a baseline round and `--rounds` counted ones. Reports this
process's CPU seconds per round (time.process_time, all threads), that as a share of one core at
the interval, per 100 replicas, the CPU of fetching and parsing alone, the PostgreSQL backend's
CPU, and the wall time. About (rounds + 1) × 10 s per count.

Chart query time (bench/monitoring/chart_query.py): a week of points for a deployment of
`--chart-replicas` replicas, laid out as collection, roll-up and retention leave them (10 s
points for 24 h, 1-minute points for 7 d), `--neighbours` other deployments with as many rows;
then `--runs` timed reads of each range (7d, 24h, 1h) through monitoring.series.read_series and
through GET /api/v1/deployments/<pk>/metrics/ with a logged-in session; p50/p95 against the
200 ms target, and PostgreSQL's EXPLAIN ANALYZE of the range query.

Prints a markdown section; with `--out docs/benchmarks.md` it is inserted below the
bench.monitoring marker there (newest first), or appended to any other file. Not part of
`make bench`, which measures the model server.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.serving.report import Machine, describe_machine

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.monitoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", default="10,100,300", type=_counts,
                        help="replica counts to scrape, comma-separated (default 10,100,300)")
    parser.add_argument("--rounds", type=int, default=6, help="counted scrape rounds per count (default 6)")
    parser.add_argument("--per-deployment", type=int, default=10, help="replicas per deployment (default 10)")
    parser.add_argument("--transport", choices=("unix", "tcp"), default="unix",
                        help="how the simulated replicas listen (default unix, as the local runtime's replicas)")
    parser.add_argument("--chart-replicas", type=int, default=10, help="replicas of the charted deployment")
    parser.add_argument("--neighbours", type=int, default=9, help="other deployments with a week of points")
    parser.add_argument("--runs", type=int, default=50, help="timed chart queries per range and path (default 50)")
    parser.add_argument("--skip-scrape", action="store_true")
    parser.add_argument("--skip-chart", action="store_true")
    parser.add_argument("--out", type=Path, help="insert the section into this file (docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.runs < 1 or args.per_deployment < 1:
        parser.error("--rounds, --runs and --per-deployment must be at least 1")
    if not 1 <= args.per_deployment <= 100:
        parser.error("--per-deployment: a variation has 1 to 100 replicas")
    return args


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give replica counts as numbers, e.g. 10,100,300") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one replica count, each 1 or more")
    return counts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = describe_machine()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="berth-bench-monitoring-") as work:
        from bench.monitoring.database import throwaway_database

        with throwaway_database(Path(work)):
            section = _measure(args, Path(work), machine, began)
    print(section)
    if args.out:
        from bench.monitoring.report import write

        print(write(args.out, section), file=sys.stderr)


def _measure(args: argparse.Namespace, work: Path, machine: Machine, began: float) -> str:
    """Everything that needs Django (set up by throwaway_database, so imported here)."""
    from django.conf import settings

    from bench.monitoring import chart_query, fleet, scrape_cost
    from bench.monitoring.report import Run, render

    owner = fleet.an_owner()
    costs = []
    if not args.skip_scrape:
        for count in args.replicas:
            print(f"scraping {count} simulated replicas, {args.rounds + 1} rounds…", file=sys.stderr)
            costs.append(scrape_cost.measure(count, args.per_deployment, args.rounds, work, args.transport, owner))
    chart = None
    if not args.skip_chart:
        print("storing a week of points and timing the chart queries…", file=sys.stderr)
        chart = chart_query.measure(owner, args.chart_replicas, args.neighbours, args.runs)
    run = Run(machine, _command(), _commit(), settings.BERTH_METRICS_SCRAPE_S, costs, chart,
              os.getloadavg(), time.monotonic() - began)
    return render(run)


def _command() -> str:
    command = f".venv/bin/python -m bench.monitoring {shlex.join(sys.argv[1:])}".rstrip()
    niceness = os.nice(0)
    return f"nice -n {niceness} {command}" if niceness else command


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, constants
                            cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
