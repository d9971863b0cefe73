"""What a server costs besides its latency: the memory of its process trees and its start-up time.

Memory sums every process of each part's tree (the parent and all its children, e.g. forked
workers). RSS counts a page shared by several processes once per process, so its sum overstates
a forked server; PSS splits each shared page among the processes sharing it (the sum is the
tree's real share of RAM) and USS counts only pages no other process maps. psutil reads PSS and
USS from /proc/<pid>/smaps; where it can't, they are None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.serving.servers import Running, Server, first_prediction_s, launch, stop

MIB = 1024 * 1024


@dataclass(frozen=True)
class Memory:
    processes: int
    rss: int  # bytes, summed over the processes
    pss: int | None
    uss: int | None

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.processes + other.processes, self.rss + other.rss, _add(self.pss, other.pss),
                      _add(self.uss, other.uss))


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


EMPTY = Memory(0, 0, 0, 0)


@dataclass(frozen=True)
class ServerMemory:
    server: str
    parts: dict[str, Memory]  # by part name, e.g. {"gateway": …, "replica": …}

    @property
    def total(self) -> Memory:
        result = EMPTY
        for memory in self.parts.values():
            result += memory
        return result


def tree_memory(pid: int) -> Memory:
    """The summed memory of process `pid` and all its descendants (those that exit meanwhile are skipped)."""
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return EMPTY
    total = EMPTY
    for process in tree:
        try:
            total += _one(process)
        except psutil.NoSuchProcess:
            continue
    return total


def _one(process: psutil.Process) -> Memory:
    try:
        full = process.memory_full_info()
    except psutil.AccessDenied:
        return Memory(1, process.memory_info().rss, None, None)
    return Memory(1, full.rss, getattr(full, "pss", None), getattr(full, "uss", None))


def server_memory(running: Running) -> ServerMemory:
    return ServerMemory(running.server.name,
                        {name: tree_memory(process.pid) for name, process in running.processes.items()})


@dataclass(frozen=True)
class StartUp:
    server: str
    seconds: tuple[float, ...]  # spawn → first correct prediction, one per start

    @property
    def best(self) -> float:
        return min(self.seconds)


def start_up(make: Callable[[], Server], starts: int, logs: Path) -> StartUp:
    """Start a fresh server `starts` times (each stopped before the next) and time each to its
    first correct prediction. The client is made before the clock starts."""
    seconds, name = [], ""
    for _ in range(starts):
        server = make()
        name = server.name
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False) as client:
            running = launch(server, logs)
            try:
                seconds.append(first_prediction_s(running, client))
            finally:
                stop(running)
    return StartUp(name, tuple(seconds))
