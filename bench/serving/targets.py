"""The targets of issue 10, checked against one run's medians.

Each check names what it compares, the measured value, the goal and whether it is met; a value
that could not be measured (a server missing from the run) is "not measured", never met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.serving.footprint import MIB, ServerMemory, StartUp
from bench.serving.load import Summary

REPLICA_RSS_MAX_MIB = 250
START_UP_MAX_S = 2.0


@dataclass(frozen=True)
class Check:
    what: str
    measured: str
    goal: str
    met: bool | None  # None: no goal, only reported; or not measured


def evaluate(summaries: dict[tuple[str, int], Summary], memory: dict[str, ServerMemory],
             start_ups: dict[str, StartUp]) -> list[Check]:
    def med(server: str, c: int) -> Summary | None:
        return summaries.get((server, c))

    checks = [
        _measure("gateway / replica requests/s at c=64", (med("gateway", 64), med("replica", 64)),
                 lambda g, r: g.rps / r.rps, "{:.2f}", "≥ 0.60", lambda v: v >= 0.60),
        _measure("gateway p99 / replica p99 at c=64", (med("gateway", 64), med("replica", 64)),
                 lambda g, r: g.p99_ms / r.p99_ms, "{:.2f}", "≤ 2", lambda v: v <= 2),
        _measure("gateway p50 - replica p50 at c=1", (med("gateway", 1), med("replica", 1)),
                 lambda g, r: g.p50_ms - r.p50_ms, "{:+.3f} ms", "≤ 0.3 ms", lambda v: v <= 0.3),
        _measure("replica p50 - fastapi-numpy p50 at c=1", (med("replica", 1), med("fastapi-numpy", 1)),
                 lambda r, n: r.p50_ms - n.p50_ms, "{:+.3f} ms", "≤ 0 (no slower)", lambda v: v <= 0),
        _measure("replica / ceiling requests/s at c=64", (med("replica", 64), med("ceiling", 64)),
                 lambda r, c: r.rps / c.rps, "{:.2f}", "≥ 0.5", lambda v: v >= 0.5),
        _measure("replica p99 at c=64", (med("replica", 64),),
                 lambda r: r.p99_ms, "{:.2f} ms", "≤ 15 ms", lambda v: v <= 15),
        _measure("batching on - off: replica p50 - replica-nobatch p50 at c=1",
                 (med("replica", 1), med("replica-nobatch", 1)),
                 lambda on, off: on.p50_ms - off.p50_ms, "{:+.3f} ms", "— (reported)", None),
    ]
    rss = memory.get("replica")
    checks.append(Check("RSS of the 2-worker replica tree (sum over its processes), after warm-up",
                        f"{rss.total.rss / MIB:.0f} MiB" if rss else "not measured", f"≤ {REPLICA_RSS_MAX_MIB} MiB",
                        rss.total.rss <= REPLICA_RSS_MAX_MIB * MIB if rss else None))
    for name, label in (("replica", "replica"), ("gateway", "gateway + replica")):
        start = start_ups.get(name)
        checks.append(Check(f"start-up to first correct prediction, {label} (best of {len(start.seconds)})"
                            if start else f"start-up to first correct prediction, {label}",
                            f"{start.best:.2f} s" if start else "not measured", f"≤ {START_UP_MAX_S:g} s",
                            start.best <= START_UP_MAX_S if start else None))
    return checks


def _measure(what: str, parts: tuple[Summary | None, ...], value: Callable[..., float],
             shown: str, goal: str, met: Callable[[float], bool] | None) -> Check:
    """`value` of the summaries in `parts`, or "not measured" when one is missing."""
    present = [part for part in parts if part is not None]
    if len(present) < len(parts):
        return Check(what, "not measured", goal, None)
    measured = value(*present)
    return Check(what, shown.format(measured), goal, met(measured) if met else None)
