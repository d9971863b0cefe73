"""The normal client the attacks must not hurt: `rate` predictions a second, open loop, over
kept-alive connections opened before the attacks; and a health probe on a fresh connection
twice a second, as a load balancer or the console's status check would call.

Latency is measured from when a request was due, not when it went out, so a gateway that
stalls shows up in the percentiles instead of slowing the client down (coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from bench.serving.iris import EXPECTED, ROW

WARM_CONNECTIONS = 16
TIMEOUT_S = 10.0
PROBE_EVERY_S = 0.5


@dataclass
class Outcome:
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, due: float, error: str | None) -> None:
        self.latencies_s.append(time.perf_counter() - due)
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1

    @property
    def sent(self) -> int:
        return len(self.latencies_s)


async def _predict(client: httpx.AsyncClient, url: str, due: float, outcome: Outcome) -> None:
    try:
        response = await client.post(url, json=[ROW])
        ok = response.status_code == 200 and response.json() == EXPECTED
        error = None if ok else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    outcome.add(due, error)


async def _probe(fresh: httpx.AsyncClient, url: str, due: float, outcome: Outcome) -> None:
    try:
        response = await fresh.get(url)
        error = None if response.status_code == 200 else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    outcome.add(due, error)


async def warm(client: httpx.AsyncClient, url: str) -> None:
    """Open the connections the client keeps, before any attack."""
    await asyncio.gather(*[client.post(url, json=[ROW]) for _ in range(WARM_CONNECTIONS)])


async def steady(client: httpx.AsyncClient, predict_url: str, health_url: str, rate: float,
                 duration_s: float) -> tuple[Outcome, Outcome]:
    """`rate` predictions a second and a probe every PROBE_EVERY_S, for `duration_s`."""
    predictions, probes = Outcome(), Outcome()
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    count = int(rate * duration_s)
    every = int(rate * PROBE_EVERY_S)
    # keeps no connection: each probe connects anew, without the cost of a new client
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=no_keep_alive, trust_env=False) as fresh:
        for n in range(count):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(_predict(client, predict_url, due, predictions)))
            if n % every == 0:
                tasks.append(asyncio.create_task(_probe(fresh, health_url, due, probes)))
        await asyncio.gather(*tasks)
    return predictions, probes


def client(timeout_s: float = TIMEOUT_S) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=70)
    return httpx.AsyncClient(timeout=timeout_s, limits=limits, trust_env=False)
