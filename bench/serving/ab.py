"""A/B of two source trees of Berth on the same machine, at the same time: is a change slower?

    .venv/bin/python -m bench.serving.ab --before /tmp/before [--after .] [--concurrency 64]
                                         [--duration 5] [--rounds 8] [--servers replica,gateway]

`--before` is another checkout (`git worktree add /tmp/before <commit>`; never `git stash`). Each
tree's replica (and gateway + replica) is started from that tree (its own directory first on the
path, the same venv), all of them at once, and `wrk` loads them in turn, round after round, the
order swapped every round (ABBA), so a change in the machine's load (other work sharing the cores)
falls on both sides alike. It prints each round's requests/s and the after/before ratio, and the
median ratio per server: on a shared machine a single pair of runs swings more than the 5% a change
may cost, the median of paired rounds less. It also prints the CPU time each server's processes
(parents, workers, and the gateway) spent per request during its runs, which other work on the
machine slows far less than it slows requests/s: the figure to trust when the machine is busy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.serving import iris, servers
from bench.serving.load import require_wrk, wrk
from bench.serving.servers import Running, Server


def launch_from(tree: Path, server: Server, logs: Path) -> Running:
    """servers.launch, but each part runs the code of `tree`: its cwd (first on sys.path for `-m`) and PYTHONPATH."""
    logs.mkdir(parents=True, exist_ok=True)
    running = Running(server, started=time.perf_counter())
    for part in server.parts:
        with (logs / f"{server.name}-{part.name}.log").open("ab") as log:
            running.processes[part.name] = subprocess.Popen(  # noqa: S603 - argv from sys.executable and constants
                part.argv, cwd=tree, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **dict(part.env), "PYTHONPATH": str(tree)})
    return running


def cpu_seconds(running: Running) -> float:
    """User + system CPU time of every process of a running server so far (workers included)."""
    total = 0.0
    for process in running.processes.values():
        try:
            parent = psutil.Process(process.pid)
            tree = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for each in tree:
            try:
                times = each.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def recipes(model: iris.IrisModel, work: Path, names: list[str]) -> list[Server]:
    makers = {"replica": lambda: servers.replica(model), "gateway": lambda: servers.gateway(model, work)}
    return [makers[name]() for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--after", type=Path, default=servers.ROOT, help="the changed tree (default: this one)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--servers", default="replica,gateway", help="replica and/or gateway, comma separated")
    args = parser.parse_args()
    require_wrk()
    work = Path(tempfile.mkdtemp(prefix="berth-ab-"))
    model = iris.train(work / "model")
    names = args.servers.split(",")
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    running = {(side, server.name): launch_from(tree, server, work / "logs" / side)
               for side, tree in sides.items() for server in recipes(model, work, names)}
    rps: dict[tuple[str, str], list[float]] = {key: [] for key in running}
    cpu_us: dict[tuple[str, str], list[float]] = {key: [] for key in running}  # CPU µs per request, per run
    try:
        with httpx.Client(timeout=10) as client:
            for each in running.values():
                servers.wait_until_ready(each, client)
        for round_ in range(1, args.rounds + 1):
            order = list(running) if round_ % 2 else list(reversed(running))
            for key in order:
                used = cpu_seconds(running[key])
                rate = wrk(running[key].server.predict_url, args.concurrency, args.duration)[0]
                rps[key].append(rate)
                cpu_us[key].append((cpu_seconds(running[key]) - used) / (rate * round(args.duration)) * 1e6)
            line = "  ".join(f"{name}: before {rps[('before', name)][-1]:,.0f} after {rps[('after', name)][-1]:,.0f} "
                             f"({rps[('after', name)][-1] / rps[('before', name)][-1]:.3f}), CPU µs/request "
                             f"{cpu_us[('before', name)][-1]:.0f} / {cpu_us[('after', name)][-1]:.0f}"
                             for name in names)
            print(f"round {round_} c={args.concurrency}  {line}  load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for each in running.values():
            servers.stop(each)
        shutil.rmtree(work, ignore_errors=True)
    for name in names:
        before, after = rps[("before", name)], rps[("after", name)]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        print(f"{name}: median requests/s before {statistics.median(before):,.0f}, after {statistics.median(after):,.0f}; "
              f"median after/before ratio {statistics.median(ratios):.3f} (rounds: "
              + ", ".join(f"{r:.3f}" for r in ratios) + ")")
        cpu_before, cpu_after = statistics.median(cpu_us[("before", name)]), statistics.median(cpu_us[("after", name)])
        print(f"{name}: median CPU µs per request before {cpu_before:.1f}, after {cpu_after:.1f} "
              f"(after/before {cpu_after / cpu_before:.3f})")


if __name__ == "__main__":
    main()
