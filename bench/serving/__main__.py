"""Benchmark the model server against the usual FastAPI server and the HTTP ceiling.

    .venv/bin/python -m bench.serving [--duration 10] [--rounds 2] [--out FILE]

Trains the iris SVC, starts three servers (2 workers each) on 127.0.0.1 — Berth, the
reference (FastAPI + pydantic + model.predict per request) and the ceiling (constant
JSON, raw ASGI on Berth's uvicorn+httptools+uvloop stack) — and loads each with `wrk`
(`apt-get install -y wrk`; a C load generator, so it is not the bottleneck) at
concurrency 1, 8 and 64, interleaving the servers within each round. Prints a markdown
table of every run plus the in-process floor (`model.predict` on one row).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CONCURRENCY = (1, 8, 64)


@dataclass
class Run:
    server: str
    concurrency: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/predict"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train(dest: Path) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(FEATURES, axis=1)
    joblib.dump(SVC().fit(features, iris.target), dest / "model.joblib")
    manifest = {"framework": "sklearn", "model_file": "model.joblib", "example_input": [ROW]}
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest / "model.joblib"


def floor_ms(model_path: Path, calls: int = 3000) -> tuple[float, float]:
    """Median in-process model.predict on one row: as a DataFrame, and as numpy."""
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    model = joblib.load(model_path)
    frame = pd.DataFrame([ROW])
    array = frame.to_numpy()
    return _median_ms(lambda: model.predict(frame), calls), _median_ms(lambda: model.predict(array), calls)


def _median_ms(call: Callable[[], object], calls: int) -> float:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[calls // 10:]) * 1000


def servers(bundle: Path, model_path: Path) -> list[Server]:
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", "2"]
    berth_port, ref_port, ceiling_port = free_port(), free_port(), free_port()
    return [
        Server("berth", [python, "-m", "serving.server", "--build", str(bundle), "--port", str(berth_port),
                         "--workers", "2", "--max-batch-size", "64", "--max-batch-wait-ms", "2"],
               berth_port, {}),
        Server("reference", [*uvicorn, "--port", str(ref_port), "bench.serving.reference:app"],
               ref_port, {"BENCH_MODEL": str(model_path)}),
        Server("ceiling", [*uvicorn, "--port", str(ceiling_port), "--http", "httptools", "--loop", "uvloop",
                           "--no-access-log", "bench.serving.ceiling:app"], ceiling_port, {}),
    ]


def start(server: Server, logs: Path) -> None:
    log = (logs / f"{server.name}.log").open("wb")
    server.process = subprocess.Popen(  # noqa: S603 - argv built by servers() from sys.executable and constants
        server.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **server.env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.post(server.url, json=[ROW], timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not start; see {logs / (server.name + '.log')}")


def stop(server: Server) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()


def wrk(url: str, concurrency: int, duration: float) -> tuple[float, float, float, int]:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{round(duration)}s", "--latency", "-s", str(HERE / "post.lua"), url]
    # `make bench` installs wrk on PATH.
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603 - numbers, our paths
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _latency(output, "50%")
    p99 = _latency(output, "99%")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rps, p50, p99, errors + (int(non_2xx.group(1)) if non_2xx else 0)


def _latency(output: str, percentile: str) -> float:
    value, unit = _search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _search(pattern: str, text: str) -> re.Match[str]:
    """The first match of `pattern` (multiline); output without it stops the benchmark, saying what was missing."""
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"expected output not found: {pattern!r} in\n{text}")
    return match


def batch_mean(server: Server) -> float:
    text = httpx.get(server.url.replace("/v1/predict", "/metrics"), timeout=5).text
    total = float(_search(r"^berth_batch_size_sum ([\d.e+]+)$", text).group(1))
    count = float(_search(r"^berth_batch_size_count ([\d.e+]+)$", text).group(1))
    return total / count if count else 0.0


def report(runs: list[Run], floors: tuple[float, float], batch: float) -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607 - util-linux, on PATH
    cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
               platform.processor())
    lines = [
        (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu}, {os.cpu_count()} CPUs; "
        f"load average at the end: {os.getloadavg()[0]:.2f}"),
        "",
        (f"Floor (in-process `model.predict`, one row): DataFrame {floors[0]:.3f} ms, numpy {floors[1]:.3f} ms. "
        f"Berth's mean batch size over the whole run: {batch:.1f} rows."),
        "",
        "| server | concurrency | round | requests/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r.server} | {r.concurrency} | {r.round} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.errors} |"
              for r in runs]
    lines += ["", ("| concurrency | berth req/s | reference req/s | ceiling req/s | berth/ref | berth/ceiling "
              "| berth p50 | ref p50 | ceiling p50 | berth p99 | ref p99 |"), "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in CONCURRENCY:
        med = {name: _medians([r for r in runs if r.server == name and r.concurrency == c])
               for name in ("berth", "reference", "ceiling")}
        b, ref, ceil = med["berth"], med["reference"], med["ceiling"]
        lines.append(f"| {c} | {b[0]:,.0f} | {ref[0]:,.0f} | {ceil[0]:,.0f} | {b[0] / ref[0]:.2f}x | "
                     f"{b[0] / ceil[0]:.2f} | {b[1]:.3f} | {ref[1]:.3f} | {ceil[1]:.3f} | {b[2]:.3f} | {ref[2]:.3f} |")
    return "\n".join(lines)


def _medians(runs: list[Run]) -> tuple[float, float, float]:
    return (statistics.median(r.rps for r in runs), statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    model_path = train(work)
    floors = floor_ms(model_path)
    started = servers(work, model_path)
    runs: list[Run] = []
    try:
        for server in started:
            start(server, work)
            wrk(server.url, 8, 2)  # warm-up
        for number in range(1, args.rounds + 1):
            for c in CONCURRENCY:
                order = started if number % 2 else started[::-1]
                for server in order:
                    rps, p50, p99, errors = wrk(server.url, c, args.duration)
                    runs.append(Run(server.name, c, number, rps, p50, p99, errors))
                    print(f"round {number} c={c:<3} {server.name:<10} {rps:>9,.0f} req/s  "
                          f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  errors {errors}", flush=True)
        batch = batch_mean(started[0])
    finally:
        for server in started:
            stop(server)
    text = report(runs, floors, batch)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
