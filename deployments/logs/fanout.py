"""One upstream log reader per deployment, however many browsers watch it.

Viewers: each console process with open logs sockets of a deployment has one hub
(deployments/logs/hub.py), which keeps an entry in the Redis sorted set `<prefix>:logs:<pk>:viewers`
(its hub channel's name, scored with when it expires), renewed every third of
BERTH_LOG_READER_TTL_S (`keep_watching`), and is that process's one member of the group.

Reader: whoever sets the lease `<prefix>:logs:<pk>:reader` (SET NX with that TTL) reads: one asyncio
task in that console process follows every replica's and the gateway's log through the backend and
`group_send`s each batch of lines, parsed, to `logs_group(pk)`: one message per batch and console
process, whose hub renders it for its local sockets. The reader renews its lease while it reads, and stops
(releasing it) when no viewer entry is left or the deployment is gone. A reader whose process dies
stops renewing; the lease expires, and the next keeper tick of any remaining hub, in any process,
takes it and starts a reader there. A reader task that ends with an error logs it, with its traceback.

The lease and the viewer set live in the channel layer's Redis, under its prefix, so consoles that
share a layer share readers and test sessions with their own prefix do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from console.live import group_name
from deployments.backends.base import get_backend
from deployments.backends.log_files import RawLine
from deployments.logs.lines import parse
from deployments.models import Deployment

log = logging.getLogger(__name__)

LINES_PER_MESSAGE = 100
REDIS_TIMEOUT_S = 2
# Compare-and-act on the lease, so a reader never renews or deletes a lease another process took over.
# Renewing a lease that expired meanwhile (a busy event loop renewed late) takes it again, unless
# another process took it first.
_RENEW = ("local holder = redis.call('get', KEYS[1]) "
          "if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
          "if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_HAND_OVER = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
              "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return 0")


class LogLinesMessage(TypedDict):
    type: Literal["logs.lines"]
    lines: list[dict[str, Any]]   # LogLine.to_json() each


class LogsGoneMessage(TypedDict):
    type: Literal["logs.gone"]


def logs_group(deployment_pk: object) -> str:
    return group_name("deployment", deployment_pk, "logs")


def reader_ttl_s() -> float:
    return float(settings.BERTH_LOG_READER_TTL_S)


def poll_s() -> float:
    return settings.BERTH_LOG_POLL_MS / 1000


def _layer_config() -> dict[str, Any]:
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    config: dict[str, Any] = layers["default"]["CONFIG"]
    return config


def _key(pk: int, what: str) -> str:
    return f"{_layer_config().get('prefix', 'asgi')}:logs:{pk}:{what}"


def lease_key(pk: int) -> str:
    return _key(pk, "reader")


def viewers_key(pk: int) -> str:
    return _key(pk, "viewers")


def client() -> aioredis.Redis:
    """A Redis client on the channel layer's server, for the calling event loop (close it with aclose)."""
    host = _layer_config()["hosts"][0]
    url = host["address"] if isinstance(host, dict) else host
    return aioredis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


@dataclass
class Reader:
    """This process's reader of one deployment's logs (at most one per deployment and process)."""

    pk: int
    token: str
    task: asyncio.Task[None]
    loop: asyncio.AbstractEventLoop

    def alive(self) -> bool:
        return not self.task.done() and self.loop is asyncio.get_running_loop() and self.loop.is_running()


_readers: dict[int, Reader] = {}


async def keep_watching(redis: aioredis.Redis, pk: int, viewer: str) -> None:
    """A viewer's tick: say it still watches, and start a reader here if nobody reads."""
    await redis.zadd(viewers_key(pk), {viewer: time.time() + reader_ttl_s()})
    ours = _readers.get(pk)
    if ours is not None and ours.alive():
        return
    token, ttl_ms = uuid.uuid4().hex, int(reader_ttl_s() * 1000)
    taken = await redis.set(lease_key(pk), token, nx=True, px=ttl_ms)
    if not taken and ours is not None:  # our own reader's loop ended (e.g. a test's): take its lease over
        taken = bool(await redis.eval(_HAND_OVER, 1, lease_key(pk), ours.token, token, ttl_ms))
    if taken:
        _start(pk, token)


async def stop_watching(redis: aioredis.Redis, pk: int, viewer: str) -> None:
    await redis.zrem(viewers_key(pk), viewer)


async def reader_token(redis: aioredis.Redis, pk: int) -> str | None:
    """Who holds the reader lease now (None: no reader), for operators and tests."""
    value = await redis.get(lease_key(pk))
    return value.decode() if isinstance(value, bytes) else value


def _start(pk: int, token: str) -> None:
    loop = asyncio.get_running_loop()
    task = loop.create_task(_read(pk, token), name=f"log reader of deployment {pk}")
    task.add_done_callback(_reader_ended)
    _readers[pk] = Reader(pk, token, task, loop)
    log.info("deployment %s: this process reads its logs now (lease %s)", pk, token[:8])


def _reader_ended(task: asyncio.Task[None]) -> None:
    """Loudly, when a reader died of an error: viewers see no new lines until another takes over."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("%s died: %s: %s; a viewer's process takes over once its lease expires",
                  task.get_name(), type(error).__name__, error, exc_info=error)


async def _read(pk: int, token: str) -> None:
    redis, layer = client(), get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS has no default layer: nobody could receive the log lines")
    group = logs_group(pk)
    try:
        deployment = await _deployment(pk)
        if deployment is None:
            await layer.group_send(group, LogsGoneMessage(type="logs.gone"))
            return
        await _follow(redis, layer, deployment, token)
    finally:
        with contextlib.suppress(Exception):  # the lease expires by itself if Redis is away
            await asyncio.shield(redis.eval(_RELEASE, 1, lease_key(pk), token))
        await redis.aclose()


async def _follow(redis: aioredis.Redis, layer: Any, deployment: Deployment, token: str) -> None:
    """Send every batch of new lines to the group until `_hold` says to stop."""
    stop = asyncio.Event()
    holder = asyncio.create_task(_hold(redis, layer, deployment.pk, token, stop), name=f"log lease {token[:8]}")
    stream = get_backend().follow_logs(deployment, poll_s())
    try:
        async for batch in stream:
            if stop.is_set():
                return
            for chunk in _chunks(batch):
                await layer.group_send(logs_group(deployment.pk), LogLinesMessage(type="logs.lines", lines=chunk))
    finally:
        holder.cancel()
        await stream.aclose()  # type: ignore[attr-defined]


async def _hold(redis: aioredis.Redis, layer: Any, pk: int, token: str, stop: asyncio.Event) -> None:
    """Every third of the TTL, apart from the reading (which may be slow): renew the lease; say stop
    when another process holds it, nobody watches any more, or the deployment is gone."""
    try:
        while True:
            await asyncio.sleep(reader_ttl_s() / 3)
            if not await redis.eval(_RENEW, 1, lease_key(pk), token, int(reader_ttl_s() * 1000)):
                log.warning("deployment %s: the log reader lost its lease; another process reads now", pk)
                return
            if not await _has_viewers(redis, pk):
                return
            if await _deployment(pk) is None:
                await layer.group_send(logs_group(pk), LogsGoneMessage(type="logs.gone"))
                return
    finally:
        stop.set()


def _chunks(batch: list[RawLine]) -> Iterator[list[dict[str, Any]]]:
    lines = [parse(raw, datetime.fromtimestamp(raw.read_at or time.time(), UTC)).to_json() for raw in batch]
    for start in range(0, len(lines), LINES_PER_MESSAGE):
        yield lines[start:start + LINES_PER_MESSAGE]


async def _has_viewers(redis: aioredis.Redis, pk: int) -> bool:
    await redis.zremrangebyscore(viewers_key(pk), "-inf", time.time())  # viewers whose process died
    return bool(await redis.zcard(viewers_key(pk)))


@database_sync_to_async
def _deployment(pk: int) -> Deployment | None:
    return Deployment.objects.select_related("model__project").filter(pk=pk).first()
