"""Benchmark the whole prediction path: replica, gateway, the usual FastAPI servers, the HTTP ceiling.

    .venv/bin/python -m bench.serving [--duration 10] [--rounds 2] [--starts 3] [--out FILE]

Trains the iris SVC (scikit-learn's bundled data) into the bundle the console makes for an
uploaded sklearn joblib file, then on 127.0.0.1:
1. times each of replica, gateway + replica, fastapi-numpy and ceiling from spawn to its first
   correct prediction, best of --starts fresh starts;
2. starts the six servers (bench/serving/servers.py), warms each up, sums the memory of its
   process trees;
3. loads each with `wrk` at concurrency 1, 8 and 64, interleaving the servers within each round
   (order reversed every round).
Prints a markdown section (targets, medians, memory, start-up, every run); with --out FILE also
writes it there: inserted at the top of the runs when FILE is docs/benchmarks.md (it has the
marker line), else FILE holds the section alone. `make bench` passes --out docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.serving import iris, servers
from bench.serving.footprint import ServerMemory, StartUp, server_memory, start_up
from bench.serving.load import CONCURRENCY, Run, require_wrk, wrk
from bench.serving.report import Results, describe_machine, render, write
from bench.serving.servers import ROOT, Running, Server, launch, stop, wait_until_ready

WARM_UP_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--starts", type=int, default=3, help="fresh starts per start-up measurement (default 3)")
    parser.add_argument("--out", type=Path, help="also write the markdown section here (see above)")
    args = parser.parse_args()
    require_wrk()
    machine = describe_machine()
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    logs = work / "logs"
    try:
        model = iris.train(work / "model")
        floor = iris.floor(model)
        start_ups = measure_start_ups(model, work, logs, args.starts)
        runs, memory, memory_after, batch_means = measure_load(servers.every_server(model, work), logs, args)
    except BaseException:
        print(f"the bench stopped; server logs are in {logs}", file=sys.stderr)
        raise
    results = Results(machine, _command(), args.duration, args.rounds, args.starts, floor, runs, memory,
                      memory_after, start_ups, batch_means, os.getloadavg(), time.monotonic() - began)
    section = render(results)
    print("\n" + section)
    if args.out:
        print(write(args.out, section))
    shutil.rmtree(work, ignore_errors=True)


def measure_start_ups(model: iris.IrisModel, work: Path, logs: Path, starts: int) -> dict[str, StartUp]:
    makers = {"replica": lambda: servers.replica(model), "gateway": lambda: servers.gateway(model, work),
              "fastapi-numpy": lambda: servers.fastapi_numpy(model), "ceiling": servers.ceiling}
    result = {}
    for name, make in makers.items():
        result[name] = start_up(make, starts, logs / "start-up")
        print(f"start-up {name:<18} " + "  ".join(f"{s:.2f} s" for s in result[name].seconds), flush=True)
    return result


def measure_load(started: list[Server], logs: Path, args: argparse.Namespace) -> tuple[
        list[Run], dict[str, ServerMemory], dict[str, ServerMemory], dict[str, float]]:
    running: list[Running] = []
    try:
        memory = {}
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False) as client:
            for server in started:
                running.append(launch(server, logs))
                wait_until_ready(running[-1], client)
                wrk(server.predict_url, 8, WARM_UP_S)
                memory[server.name] = server_memory(running[-1])
        runs = []
        for number in range(1, args.rounds + 1):
            order = started if number % 2 else started[::-1]
            for c in CONCURRENCY:
                for server in order:
                    rps, p50, p99, errors = wrk(server.predict_url, c, args.duration)
                    runs.append(Run(server.name, c, number, rps, p50, p99, errors))
                    print(f"round {number} c={c:<3} {server.name:<18} {rps:>9,.0f} req/s  "
                          f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  errors {errors}", flush=True)
        memory_after = {r.server.name: server_memory(r) for r in running}
        batch_means = {s.name: mean for s in started if (mean := servers.batch_mean(s)) is not None}
    finally:
        for one in running:
            stop(one)
    return runs, memory, memory_after, batch_means


def _command() -> str:
    """How this run was started, as one would type it in the repository."""
    python = Path(sys.executable)
    shown = os.path.relpath(python, ROOT) if python.is_relative_to(ROOT) else str(python)
    return shlex.join([shown, "-m", "bench.serving", *sys.argv[1:]])


if __name__ == "__main__":
    main()
