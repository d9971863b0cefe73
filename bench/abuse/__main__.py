"""Replay issue 11's attacks on a gateway in front of two replicas while a normal client predicts.

    .venv/bin/python -m bench.abuse [--duration 60] [--rate 100]

Trains the iris SVC (bench/serving/iris.py), starts two replicas (`python -m serving.server`, 2
workers each, as bench/serving starts them) and a gateway in front of both with its default
limits, all on 127.0.0.1. A normal client opens its kept-alive connections, runs alone for
`--baseline` seconds, then for `--duration` seconds sends `--rate` predictions a second and probes /health/live on a fresh
connection twice a second (bench/abuse/client.py), while another process runs every attack at
once (bench/abuse/attacks.py): slowloris headers, slow bodies, aborts mid-body, a connection
flood past the gateway's connection cap. Prints a markdown section: the normal client's errors
and latency, the probes', what each attack got, the gateway's CPU and its sockets afterwards.
Takes about `--baseline` + `--duration` + 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import uvloop

from bench.abuse import attacks, client
from bench.serving import iris, servers
from bench.serving.report import Machine, describe_machine
from bench.serving.servers import HOST, MODEL_ID, ROOT, Part, Running, Server, launch, stop, wait_until_ready

ROUTES_VERSION = "abuse-1"
SETTLE_S = 3.0  # after the attacks, before the gateway's sockets are counted


def gateway_server(replicas: list[Server], work: Path) -> Server:
    routes = work / "routes.json"
    endpoints = [replica.predict_url.removesuffix("/v1/predict") for replica in replicas]
    routes.write_text(json.dumps({"version": ROUTES_VERSION, "model_id": MODEL_ID, "variations": [
        {"name": "main", "shadow": False, "traffic_percent": 100, "timeout_ms": 30_000, "endpoints": endpoints}]}))
    port = servers.free_port()
    argv = (sys.executable, "-m", "serving.gateway", "--config", str(routes), "--host", HOST, "--port", str(port))
    base = f"http://{HOST}:{port}"
    return Server("gateway", (Part("gateway", argv),), f"{base}/v1/models/{MODEL_ID}/predict",
                  ready_url=f"{base}/health/ready", routes_version=ROUTES_VERSION)


async def measure(gateway: Running, args: argparse.Namespace) -> dict[str, Any]:
    server = gateway.server
    health_url = server.ready_url.replace("/ready", "/live") if server.ready_url else ""
    process = psutil.Process(gateway.processes["gateway"].pid)
    url = urlsplit(server.predict_url)
    plan = attacks.Plan(HOST, url.port or 80, url.path, args.duration)
    async with client.client() as normal:
        await client.warm(normal, server.predict_url)
        quiet = await client.steady(normal, server.predict_url, health_url, args.rate, args.baseline)
        receiving, sending = multiprocessing.get_context("spawn").Pipe(duplex=False)
        attacker = multiprocessing.get_context("spawn").Process(target=attacks.run, args=(plan, sending))
        cpu_before, began = process.cpu_times(), time.monotonic()
        attacker.start()
        predictions, probes = await client.steady(normal, server.predict_url, health_url, args.rate, args.duration)
        cpu = process.cpu_times()
        seconds = time.monotonic() - began
        tallies = await asyncio.get_running_loop().run_in_executor(None, receiving.recv)
        attacker.join()
        await asyncio.sleep(SETTLE_S)
        after = Counter(c.status for c in process.net_connections())
        last = await normal.post(server.predict_url, json=[iris.ROW])
    busy = (cpu.user + cpu.system - cpu_before.user - cpu_before.system) / seconds
    return {"quiet": quiet, "predictions": predictions, "probes": probes, "tallies": tallies, "gateway_cpu": busy,
            "sockets_after": dict(after), "after_status": last.status_code}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def latency_row(name: str, outcome: client.Outcome) -> str:
    ms = [s * 1000 for s in outcome.latencies_s]
    errors = sum(outcome.errors.values())
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items())) or "none"
    return (f"| {name} | {outcome.sent} | {errors} ({errors / max(1, outcome.sent):.2%}) | {kinds} | "
            f"{percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {max(ms, default=float('nan')):.1f} |")


def render(result: dict[str, Any], args: argparse.Namespace, machine: Machine, load_after: tuple[float, ...]) -> str:
    lines = [f"### {machine.date} — {machine.cpu}, {machine.cores} cores, Python {machine.python}", "",
             f"Command: `{_command()}`. Load average before {machine.load_before[0]:.2f}, after {load_after[0]:.2f}.", "",
             "| client | requests | errors | kinds | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|",
             latency_row(f"before the attacks ({args.baseline:g} s): normal client, {args.rate:g} predictions/s",
                         result["quiet"][0]),
             latency_row("before the attacks: /health/live probe, fresh connection, 2/s", result["quiet"][1]),
             latency_row(f"**under attack ({args.duration:g} s): normal client, {args.rate:g} predictions/s "
                         "(kept-alive connections)**", result["predictions"]),
             latency_row("under attack: /health/live probe, fresh connection, 2/s", result["probes"]), "",
             "| attack | connections opened | failed to connect | how they ended | held median s | held max s |",
             "|---|---|---|---|---|---|"]
    for name, tally in result["tallies"].items():
        endings = ", ".join(f"{k}: {v}" for k, v in sorted(tally["endings"].items()))
        median, longest = tally["held_median_s"], tally["held_max_s"]
        lines.append(f"| {name} | {tally['opened']} | {tally['failed_to_connect']} | {endings} | "
                     f"{'-' if median is None else f'{median:.1f}'} | {'-' if longest is None else f'{longest:.1f}'} |")
    sockets = ", ".join(f"{k}: {v}" for k, v in sorted(result["sockets_after"].items())) or "none"
    lines += ["", f"Gateway CPU during the attacks: {result['gateway_cpu']:.0%} of one core. "
              f"Its sockets {SETTLE_S:g} s after the attacks: {sockets}. A prediction then: HTTP {result['after_status']}."]
    return "\n".join(lines)


def _command() -> str:
    python = Path(sys.executable)
    shown = os.path.relpath(python, ROOT) if python.is_relative_to(ROOT) else str(python)
    return shlex.join([shown, "-m", "bench.abuse", *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of attack (default 60)")
    parser.add_argument("--rate", type=float, default=100.0, help="normal predictions a second (default 100)")
    parser.add_argument("--baseline", type=float, default=20.0,
                        help="seconds the normal client runs alone first, for comparison (default 20)")
    args = parser.parse_args()
    machine = describe_machine()
    work = Path(tempfile.mkdtemp(prefix="berth-abuse-"))
    model = iris.train(work / "model")
    replicas = [servers.replica(model, name=f"replica-{n}") for n in (1, 2)]
    running: list[Running] = []
    try:
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False) as probe:
            for server in (*replicas, gateway_server(replicas, work)):
                running.append(launch(server, work / "logs"))
                wait_until_ready(running[-1], probe)
        result = uvloop.run(measure(running[-1], args))
    except BaseException:
        print(f"the bench stopped; server logs are in {work / 'logs'}", file=sys.stderr)
        raise
    finally:
        for one in reversed(running):
            stop(one)
    print(render(result, args, machine, os.getloadavg()))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
