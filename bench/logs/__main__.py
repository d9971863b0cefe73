"""Log latency and fan-out of the Logs tab's live tail (issue 13, "Speed").

    nice -n 5 .venv/bin/python -m bench.logs [--viewers 1,50] [--lines 1000] [--rate 100] [--out docs/benchmarks.md]

For each viewer count: that many WebSocket viewers connect to one deployment's logs socket, through
the real ASGI application (channels.testing.WebsocketCommunicator, in this process: consumers, the
one reader and its lease, the channels-redis layer on the local Redis). A writer thread then appends
`--lines` lines to a replica's log file at `--rate` lines/s, as a model server writes them (one
JSON line per write, its write time in its request id). Reported: from write to each viewer's
receipt, p50/p95/max (target p95 <= 500 ms); whether every viewer got every line once and in order;
how many readers held the lease meanwhile; this process's CPU (all consumers, the reader, the hub
and its rendering, and the viewers' own receiving) and peak memory. Needs PostgreSQL and Redis on 127.0.0.1 (bench/monitoring/database.py
makes and drops a throwaway database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.monitoring.database import throwaway_database

TARGET_P95_MS = 500.0
MARKER = "<!-- bench.logs: each run's section is inserted below this line, newest first -->"
ORIGIN = (b"origin", b"http://127.0.0.1")
REPLICA = "default-3f9a1c2e-0"


@dataclass(frozen=True)
class Result:
    viewers: int
    lines: int
    rate: int
    latencies_ms: list[float]
    complete: bool
    readers: int
    cpu_s: float
    seconds: float
    max_rss_mb: float

    def row(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat) if lat else float("nan")
        p95 = lat[int(len(lat) * 0.95) - 1] if lat else float("nan")
        return (f"| {self.viewers} | {self.lines} at {self.rate}/s | {p50:.0f} | {p95:.0f} | {max(lat):.0f} | "
                f"{'yes' if self.complete else '**no**'} | {self.readers} | {self.cpu_s:.1f} s "
                f"({100 * self.cpu_s / self.seconds:.0f} % of a core) | {self.max_rss_mb:.0f} MB |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="1,50", help="viewer counts, comma-separated (default 1,50)")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100, help="lines per second written")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="berth-bench-logs-") as work, throwaway_database(Path(work)):
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # set-up rows from this thread, beside the event loop
        results = [asyncio.run(run(int(count), args.lines, args.rate)) for count in args.viewers.split(",")]
    section = render(results, sys.argv[1:] if argv is None else argv)
    print(section)
    if args.out:
        text = args.out.read_text() if args.out.exists() else ""
        if MARKER in text:
            head, tail = text.split(MARKER, 1)
            args.out.write_text(f"{head}{MARKER}\n\n{section}\n{tail.lstrip(chr(10))}")
        else:
            args.out.write_text(f"{text.rstrip()}\n\n{MARKER}\n\n{section}\n")


async def run(viewers: int, lines: int, rate: int) -> Result:
    from channels.testing import WebsocketCommunicator
    from django.conf import settings

    from console.asgi import application
    from deployments.logs import fanout

    deployment, cookie = await asyncio.to_thread(_rows, viewers)
    log = Path(settings.BERTH_RUNTIME_DIR) / f"d{deployment.pk}" / "logs" / f"{REPLICA}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    headers = [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    sockets = [WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/logs/", headers=headers)
               for _ in range(viewers)]
    for socket in sockets:
        assert (await socket.connect(timeout=30))[0]
    await _until_live(log, sockets)
    received: list[list[tuple[str, float]]] = [[] for _ in sockets]
    receivers = [asyncio.create_task(_receive(socket, into)) for socket, into in zip(sockets, received, strict=True)]
    holders: set[str] = set()
    redis = fanout.client()
    cpu, started = time.process_time(), time.monotonic()
    writer = threading.Thread(target=_write, args=(log, lines, rate), daemon=True)
    writer.start()
    deadline = time.monotonic() + lines / rate + 30
    while time.monotonic() < deadline and min(len(got) for got in received) < lines:
        token = await fanout.reader_token(redis, deployment.pk)
        if token:
            holders.add(token)
        await asyncio.sleep(0.2)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    for task in receivers:
        task.cancel()
    for socket in sockets:
        await socket.disconnect()
    await redis.aclose()
    wanted = [f"line-{n}" for n in range(lines)]
    complete = all([name for name, _ in got] == wanted for got in received)
    latencies = [(at - float(name_at)) * 1000 for got in received for name_at, at in
                 ((_written_at.get(name, "nan"), at) for name, at in got)]
    return Result(viewers, lines, rate, latencies, complete, len(holders), cpu, seconds,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


_written_at: dict[str, str] = {}


def _rows(viewers: int) -> tuple[Any, str]:
    """A viewer of a new deployment, and that viewer's session cookie."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from deployments.models import Deployment, Membership, Model, Project, Role

    tag = f"bench-{viewers}-{time.monotonic_ns()}"
    user = User.objects.create_user(tag, password="x" * 20)
    project = Project.objects.create(slug=tag, name="Bench")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    deployment = Deployment.objects.create(model=Model.objects.create(project=project, model_id=tag, name="Bench"))
    client = Client()
    client.force_login(user)
    return deployment, client.cookies[settings.SESSION_COOKIE_NAME].value


def _write(log: Path, lines: int, rate: int) -> None:
    """`lines` lines at `rate`/s, each one os.write as the model server does, its write time noted."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        start = time.monotonic()
        for n in range(lines):
            pause = start + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = time.time()
            _written_at[f"line-{n}"] = repr(now)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
            os.write(fd, json.dumps({"ts": stamp, "level": "info", "event": "request", "pid": 1,
                                     "request_id": f"line-{n}", "method": "POST", "path": "/v1/predict",
                                     "status": 200, "latency_ms": 1.0}).encode() + b"\n")
    finally:
        os.close(fd)


async def _until_live(log: Path, sockets: list[Any]) -> None:
    """Probe lines until every viewer got one: the reader is following (then drain what came)."""
    waiting = set(range(len(sockets)))
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        with log.open("a") as handle:
            handle.write(json.dumps({"ts": "", "event": "probe", "request_id": "probe"}) + "\n")
        await asyncio.sleep(0.5)
        for index in list(waiting):
            while not await sockets[index].receive_nothing(timeout=0.01):
                await sockets[index].receive_from()
                waiting.discard(index)
    if waiting:
        raise RuntimeError(f"{len(waiting)} viewers got no line within 60 s")
    await asyncio.sleep(1)
    for socket in sockets:
        while not await socket.receive_nothing(timeout=0.05):
            await socket.receive_from()


async def _receive(socket: Any, into: list[tuple[str, float]]) -> None:
    import re

    row = re.compile(r"req=(line-\d+)</div>")
    while True:
        html = await socket.receive_from(timeout=3600)
        now = time.time()
        into.extend((name, now) for name in row.findall(html))


def render(results: list[Result], argv: list[str]) -> str:
    from bench.serving.report import describe_machine

    machine = describe_machine()
    load = ", ".join(f"{value:.2f}" for value in machine.load_before)
    lines = [f"### Logs live tail, {machine.date}", "",
             f"Command: `nice -n 5 .venv/bin/python -m bench.logs {' '.join(argv)}` on {machine.cpu}, "
             f"{machine.cores} cores, Python {machine.python}; load average when the runs ended: {load}. Viewers, consumers, "
             "the reader and the writer all run in this one process (the console's CPU and memory below include "
             "the viewers' own side).", "",
             "| viewers | lines | p50 ms | p95 ms | max ms | every viewer every line, in order | readers | "
             "console CPU | peak memory |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [result.row() for result in results]
    worst = max((sorted(r.latencies_ms)[int(len(r.latencies_ms) * 0.95) - 1] for r in results if r.latencies_ms),
                default=float("nan"))
    lines += ["", f"Target p95 <= {TARGET_P95_MS:.0f} ms: {'met' if worst <= TARGET_P95_MS else 'not met'} "
              f"(worst p95 {worst:.0f} ms). Latency is from the line's write to its receipt by a viewer: the "
              f"reader's poll (BERTH_LOG_POLL_MS, 200 ms), the group send through Redis (one message per batch and "
              f"process), the process's hub rendering each batch once per filter and queueing it for every socket."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
