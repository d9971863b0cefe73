"""`berth deployments metrics`: a deployment's health series over a time range, one line per metric.

The same series as the Overview's charts and `GET /api/v1/deployments/<id>/metrics/`; `--json` prints
that answer as it is (`times`, and each metric's values at them).
"""

from __future__ import annotations

import argparse
from typing import Any

from berth import deploy_client as api
from berth.cli.base import Groups, emit, short_time, table
from berth.client import BerthClient

RANGES = ("15m", "1h", "6h", "24h", "7d")
# metric -> (unit shown, divisor from the API's unit)
METRICS = {
    "latency_p50_ms": ("ms", 1), "latency_p95_ms": ("ms", 1), "latency_p99_ms": ("ms", 1),
    "throughput_rps": ("req/s", 1), "error_rate_4xx_pct": ("%", 1), "error_rate_5xx_pct": ("%", 1),
    "cpu_pct": ("% of a core", 1), "memory_bytes": ("MiB", 1024 * 1024), "ready_replicas": ("", 1),
    "desired_replicas": ("", 1), "batch_size_mean": ("rows", 1),
}
COLUMNS = ("metric", "unit", "latest", "min", "avg", "max")


def register(groups: Groups) -> None:
    metrics = groups.command("deployments", "metrics", deployment_metrics,
                             help="Latency, throughput, error rates, CPU, memory, replicas and batch size of a "
                                  "model's deployment over a time range: latest value and min/avg/max.")
    metrics.add_argument("--model-id", required=True)
    metrics.add_argument("--environment", default="production")
    metrics.add_argument("--range", default="1h", choices=RANGES, help="how far back from now (default 1h)")
    metrics.add_argument("--variation", default="", help="one variation's series (default: the whole deployment)")


def deployment_metrics(args: argparse.Namespace, client: BerthClient) -> int:
    deployment = api.deployment_of(client, args.model_id, args.environment)
    answer = client.deployment_metrics(deployment["id"], args.range, args.variation)
    if args.json:
        emit(args, answer)
        return 0
    scope = f"variation {args.variation}" if args.variation else "all variations"
    head = f"{args.model_id} ({deployment['environment']}, {scope}), last {args.range}"
    times = answer["times"]
    if not times:
        print(f"{head}: no data yet.")
        return 0
    print(f"{head}: {len(times)} points, one every {answer['resolution_s']} s, "
          f"{short_time(times[0])} to {short_time(times[-1])} UTC")
    print(table([summary(name, answer["metrics"].get(name, [])) for name in METRICS], COLUMNS))
    return 0


def summary(name: str, values: list[float | None]) -> dict[str, Any]:
    """A metric's latest value and its min/avg/max over the range, leaving out points without data."""
    unit, divisor = METRICS[name]
    known = [value / divisor for value in values if value is not None]
    if not known:
        return {"metric": name, "unit": unit}
    return {"metric": name, "unit": unit, "latest": number(known[-1]), "min": number(min(known)),
            "avg": number(sum(known) / len(known)), "max": number(max(known))}


def number(value: float) -> str:
    """Two decimals at most, without trailing zeros: 12.5, 3, 0.07."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
