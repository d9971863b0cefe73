"""Named locks in Redis, so a task runs once at a time per object whatever the worker count.

A lock lives only while its holder does: it has a short time-to-live that a heartbeat thread
keeps renewing, so a worker killed mid-task frees it within `ttl_s` and a retry can proceed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings

log = logging.getLogger(__name__)


def lock_ttl_s() -> int:
    """How long a lock outlives its holder (setting BERTH_LOCK_TTL_S)."""
    return int(settings.BERTH_LOCK_TTL_S)


# Every lock command is one quick SET, EXISTS or renewal script, never a blocking read. A call that
# hangs longer than this fails, well inside the shortest lock TTL (3 s), rather than stalling a
# renewal past the expiry of the lock it renews (redis-py's own default is 5 s).
REDIS_TIMEOUT_S = 2


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S,
                                socket_connect_timeout=REDIS_TIMEOUT_S)


def _key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:lock:{name}"


@contextmanager
def held_lock(name: str, wait_s: float = 0) -> Iterator[bool]:
    """`with held_lock("build:…", wait_s=40) as acquired:` — renewed until the block ends."""
    ttl_s = lock_ttl_s()
    # Not thread-local: the heartbeat thread renews the lock this thread acquired (redis-py keeps a
    # lock's token per thread by default, and another thread's renewal then fails on every beat).
    lock = _client().lock(_key(name), timeout=ttl_s, blocking=wait_s > 0, blocking_timeout=wait_s or None,
                          thread_local=False)
    if not lock.acquire():
        yield False
        return
    stop = threading.Event()
    heartbeat = threading.Thread(target=_renew, args=(lock, ttl_s, stop), daemon=True)
    heartbeat.start()
    try:
        yield True
    finally:
        stop.set()
        heartbeat.join()
        with contextlib.suppress(redis.exceptions.LockError):  # expired while we stalled: nothing of ours to release
            lock.release()


def _renew(lock: redis.lock.Lock, ttl_s: int, stop: threading.Event) -> None:
    while not stop.wait(ttl_s / 3):
        try:
            lock.reacquire()
        except redis.exceptions.LockError:
            log.error("lock %s was lost (it expired or was taken); the work it guarded may run twice", lock.name)
            return
        except redis.exceptions.RedisError as exc:  # a blip: try again on the next beat, before the TTL runs out
            log.warning("could not renew lock %s (%s); retrying", lock.name, exc)
        except Exception:  # a heartbeat that dies quietly lets the work run twice: say so, keep beating
            log.exception("renewing lock %s failed unexpectedly; retrying", lock.name)


def is_locked(name: str) -> bool:
    return bool(_client().exists(_key(name)))
