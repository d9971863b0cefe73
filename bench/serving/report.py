"""One run's results as a markdown section, and where that section goes in docs/benchmarks.md.

Every number in the section comes from `Results`; nothing is written by hand.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from bench.serving.footprint import MIB, Memory, ServerMemory, StartUp
from bench.serving.iris import Floor
from bench.serving.load import CONCURRENCY, Run, Summary, summarize
from bench.serving.targets import Check, evaluate

# New sections go right below this line of docs/benchmarks.md, so the newest run comes first.
MARKER = "<!-- bench.serving: each run's section is inserted below this line, newest first -->"
LABELS = {"gateway": "gateway + replica"}


@dataclass(frozen=True)
class Machine:
    date: str
    cpu: str
    cores: int
    python: str
    load_before: tuple[float, float, float]


def describe_machine() -> Machine:
    """Now, before the run: CPU model from /proc/cpuinfo, cores, Python, load average."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    return Machine(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count() or 0,
                   platform.python_version(), os.getloadavg())


@dataclass(frozen=True)
class Results:
    machine: Machine
    command: str
    duration_s: float
    rounds: int
    starts: int
    floor: Floor
    runs: list[Run]
    memory: dict[str, ServerMemory]  # after warm-up, by server
    memory_after: dict[str, ServerMemory]  # after the last run, by server
    start_ups: dict[str, StartUp]
    batch_means: dict[str, float]  # mean rows per batch over the whole run, Berth servers only
    load_after: tuple[float, float, float]
    elapsed_s: float


def render(results: Results) -> str:
    summaries = summarize(results.runs)
    servers = list(dict.fromkeys(run.server for run in results.runs))
    m = results.machine
    lines = [
        f"### {m.date} — {m.cpu}, {m.cores} cores, Python {m.python}",
        "",
        f"Command: `{results.command}` ({results.duration_s:g} s per wrk run, {results.rounds} interleaved "
        f"round{'s' if results.rounds != 1 else ''}, best of {results.starts} starts). "
        f"Load average (1, 5, 15 min) before the run: {_load(m.load_before)}; after: {_load(results.load_after)}. "
        f"The run took {results.elapsed_s / 60:.1f} min.",
        "",
    ]
    errors = sum(run.errors for run in results.runs)
    if errors:
        lines += [f"**{errors:,} requests failed** (socket errors or non-2xx answers); see the errors column.", ""]
    lines += ["#### Against the targets", "", *_checks(evaluate(summaries, results.memory, results.start_ups)), ""]
    lines += ["#### Summary (median of the rounds)", "", *_summary(summaries, servers), ""]
    lines += ["#### Memory and start-up", "", *_footprint(results, servers), ""]
    lines += ["#### Every run", "", *_runs(results.runs)]
    return "\n".join(lines) + "\n"


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _checks(checks: list[Check]) -> list[str]:
    verdicts = {True: "met", False: "**not met**", None: "—"}
    return ["| check | measured | target | verdict |", "|---|---:|---:|---|",
            *(f"| {c.what} | {c.measured} | {c.goal} | {verdicts[c.met]} |" for c in checks)]


def _summary(summaries: dict[tuple[str, int], Summary], servers: list[str]) -> list[str]:
    lines = ["| concurrency | server | requests/s | p50 ms | p99 ms | errors |", "|---:|---|---:|---:|---:|---:|"]
    for c in CONCURRENCY:
        for server in servers:
            s = summaries.get((server, c))
            if s is not None:
                lines.append(f"| {c} | {LABELS.get(server, server)} | {s.rps:,.0f} | {s.p50_ms:.3f} | "
                             f"{s.p99_ms:.3f} | {s.errors} |")
    return lines


def _footprint(results: Results, servers: list[str]) -> list[str]:
    lines = [
        "Memory sums each server's whole process trees (parents and forked workers; the gateway row adds "
        "the gateway process and its replica's tree) after warm-up, and again after the last run. "
        "RSS counts pages shared between forked workers once per process, so its sum overstates; "
        "PSS splits shared pages among the processes that map them (the sum is the tree's share of RAM); "
        "USS is what each process alone holds. The RSS target is checked against the RSS sum. "
        "Start-up is from spawning the process(es) to the first 200 with the right prediction, "
        "polled every 10 ms.",
        "",
        "| server | processes | RSS sum MiB | PSS sum MiB | USS sum MiB | after the run: RSS / PSS MiB "
        "| start-up s (best) | every start s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for server in servers:
        memory, after, start = results.memory.get(server), results.memory_after.get(server), results.start_ups.get(server)
        total = memory.total if memory else None
        lines.append(
            f"| {LABELS.get(server, server)} | {total.processes if total else '—'} | {_mib(total, 'rss')} | "
            f"{_mib(total, 'pss')} | {_mib(total, 'uss')} | "
            f"{_mib(after.total if after else None, 'rss')} / {_mib(after.total if after else None, 'pss')} | "
            f"{f'{start.best:.2f}' if start else '—'} | "
            f"{', '.join(f'{s:.2f}' for s in start.seconds) if start else '—'} |")
    parts = [f"{LABELS.get(name, name)}: " + " + ".join(f"{part} {_mib(mem, 'rss')}" for part, mem in m.parts.items())
             for name, m in results.memory.items() if len(m.parts) > 1]
    batches = ", ".join(f"{LABELS.get(name, name)} {mean:.1f}" for name, mean in results.batch_means.items())
    f = results.floor
    lines += [
        "",
        *(f"RSS by part, MiB — {text}." for text in parts),
        f"Mean rows per predict batch over the whole run: {batches}.",
        f"Floor (in-process `model.predict`, one row, median of 3000): DataFrame {f.dataframe_ms:.3f} ms, "
        f"numpy {f.numpy_ms:.3f} ms.",
    ]
    return lines


def _mib(memory: Memory | None, kind: str) -> str:
    value = getattr(memory, kind) if memory is not None else None
    return "—" if value is None else f"{value / MIB:,.0f}"


def _runs(runs: list[Run]) -> list[str]:
    return ["| server | concurrency | round | requests/s | p50 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(f"| {LABELS.get(r.server, r.server)} | {r.concurrency} | {r.round} | {r.rps:,.0f} | {r.p50_ms:.3f} | "
              f"{r.p99_ms:.3f} | {r.errors} |" for r in runs)]


def write(path: Path, section: str) -> str:
    """Insert `section` below MARKER when `path` has it (docs/benchmarks.md: earlier runs stay below),
    else write `section` alone to `path`. Says which it did."""
    text = path.read_text() if path.exists() else ""
    if MARKER in text:
        head, tail = text.split(MARKER, 1)
        path.write_text(f"{head}{MARKER}\n\n{section}\n{tail.lstrip(chr(10))}")
        return f"inserted the new section at the top of the runs in {path}"
    path.write_text(section)
    return f"wrote the section to {path}"
