"""One run's results as a markdown section, and where it goes in docs/benchmarks.md.

Every figure in the section comes from the measurements; nothing is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.monitoring.chart_query import TARGET_MS, ChartQuery
from bench.monitoring.scrape_cost import ScrapeCost
from bench.serving.report import Machine

# New sections go right below this line of docs/benchmarks.md, newest first.
MARKER = "<!-- bench.monitoring: each run's section is inserted below this line, newest first -->"
PLAN_LINES = 12


@dataclass(frozen=True)
class Run:
    machine: Machine
    command: str
    commit: str
    scrape_interval_s: int
    costs: list[ScrapeCost]
    chart: ChartQuery | None
    load_after: tuple[float, float, float]
    elapsed_s: float


def render(run: Run) -> str:
    m = run.machine
    lines = [f"### {m.date} — {m.cpu}, {m.cores} cores, Python {m.python}", "",
             f"Command: `{run.command}` at `{run.commit}`. Load average (1, 5, 15 min) before: {_load(m.load_before)}; "
             f"after: {_load(run.load_after)}. The run took {run.elapsed_s / 60:.1f} min.", ""]
    if run.costs:
        lines += _scrape(run)
    if run.chart is not None:
        lines += _chart(run.chart)
    return "\n".join(lines) + "\n"


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _scrape(run: Run) -> list[str]:
    first = run.costs[0]
    lines = [f"#### Scrape cost (one round of `monitoring.tasks.scrape_metrics` every {run.scrape_interval_s} s)",
             "", f"Simulated replicas answer `/metrics` with {first.replica_body.samples} samples "
             f"({first.replica_body.bytes:,} bytes) each, over {first.transport}; each deployment's simulated gateway "
             f"with {first.gateway_body.samples} samples ({first.gateway_body.bytes:,} bytes), over TCP. Medians of "
             f"{len(first.rounds)} rounds after the baseline round.", "",
             "| replicas | deployments | console CPU s / round | CPU % of one core at the interval | "
             "CPU s per 100 replicas | fetch + parse alone, CPU s | PostgreSQL CPU s / round | wall s / round | "
             "points stored / round | targets answering (replicas + gateways) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cost in run.costs:
        per_100 = cost.median("cpu_s") * 100 / cost.replicas
        lines.append(f"| {cost.replicas} | {cost.deployments} | {cost.median('cpu_s'):.3f} | "
                     f"{cost.cpu_pct_at_interval():.1f} % | {per_100:.3f} | {cost.median('scrape_only_cpu_s'):.3f} | "
                     f"{cost.median('postgres_cpu_s'):.3f} | {cost.median('wall_s'):.2f} | "
                     f"{cost.median('points'):.0f} | {cost.median('answered'):.0f} |")
    lines += ["", "Every round (console CPU s / wall s):", ""]
    for cost in run.costs:
        rounds = ", ".join(f"{r.cpu_s:.3f}/{r.wall_s:.2f}" for r in cost.rounds)
        lines.append(f"- {cost.replicas} replicas: {rounds}")
    return [*lines, ""]


def _chart(chart: ChartQuery) -> list[str]:
    lines = [f"#### Chart query time ({chart.replicas} replicas, a week of points; target ≤ {TARGET_MS:.0f} ms)", "",
             f"{chart.deployments} deployments with a week of points each: {chart.rows:,} rows, "
             f"{chart.table_mb:.1f} MiB with indexes (stored in {chart.insert_s:.0f} s, then ANALYZE). "
             f"{len(chart.timings[0].ms)} timed runs per row after 3 warm-up runs.", "",
             "Wall time is what a page waits for on this shared machine; CPU is this process's own (Python, Django, "
             "psycopg), which other jobs on the cores inflate far less, and PostgreSQL's backend CPU comes on top "
             "of it. The target is judged on the wall p95, and on CPU p95 + PostgreSQL CPU (what an idle "
             "machine would take).", "",
             "| range | path | points | answer bytes | wall p50 ms | wall p95 ms | wall max ms | CPU p50 ms | "
             "CPU p95 ms | PostgreSQL CPU ms | target (wall / CPU) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in chart.timings:
        by_wall = "met" if t.quantile(0.95) <= TARGET_MS else "**missed**"
        by_cpu = "met" if t.quantile(0.95, cpu=True) + t.postgres_cpu_ms <= TARGET_MS else "**missed**"
        size = f"{t.payload_bytes:,}" if t.payload_bytes else "—"
        lines.append(f"| {t.range} | {t.how} | {t.points:,} | {size} | {t.p50():.1f} | {t.quantile(0.95):.1f} | "
                     f"{max(t.ms):.1f} | {t.p50(cpu=True):.1f} | {t.quantile(0.95, cpu=True):.1f} | "
                     f"{t.postgres_cpu_ms:.1f} | {by_wall} / {by_cpu} |")
    for range_name, plan in chart.plans.items():
        shown = plan.splitlines()
        lines += ["", f"PostgreSQL's plan for the {range_name} point query (EXPLAIN (ANALYZE, BUFFERS)):", "", "```",
                  *shown[:PLAN_LINES], *(["…"] if len(shown) > PLAN_LINES else []), "```"]
    return [*lines, ""]


def write(path: Path, section: str) -> str:
    """Insert `section` below MARKER in `path` (earlier runs stay below it); without the marker, append it."""
    text = path.read_text() if path.exists() else ""
    if MARKER in text:
        head, tail = text.split(MARKER, 1)
        path.write_text(f"{head}{MARKER}\n\n{section}\n{tail.lstrip(chr(10))}")
        return f"inserted the new section below the bench.monitoring marker in {path}"
    path.write_text(f"{text.rstrip(chr(10))}\n\n{section}" if text else section)
    return f"appended the section to {path}"
