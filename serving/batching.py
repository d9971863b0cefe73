"""Adaptive batching wrapped around a runtime (the runtime never knows about it).

Callers `submit()` their rows and await their own results. One predict runs at a time per
worker process, in the predict thread, so the event loop keeps reading requests meanwhile:

* a batch starts as soon as the predict thread is free, with every request already queued
  (and those queued in the same event-loop turn), up to `max_batch_size` rows;
* if requests are known to be arriving (headers read, body not yet decoded: between
  `expect()` and `arrived()`), it waits for them up to `max_batch_wait`, never longer;
* otherwise it starts at once: a lone request pays no batching delay, and with
  `max_batch_size=1` nothing ever waits.

While one batch runs, the next requests queue up, so under load batches fill up on their
own. If a batch fails, its requests are retried one by one, so one bad request can't fail
its batch-mates. Nothing here runs per request but a deque append and a flag check; the
event loop and the predict thread meet once per batch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PredictBatch = Callable[[list[Any]], list[Any]]  # items → one result per item


@dataclass
class _Pending:
    item: Any
    size: int
    future: asyncio.Future[Any] = field(repr=False)


class AdaptiveBatcher:
    def __init__(
        self,
        predict_batch: PredictBatch,
        max_batch_size: int,
        max_batch_wait_s: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_batch_wait_s = max_batch_wait_s if max_batch_size > 1 else 0.0
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._solo: deque[_Pending] = deque()  # requests of a failed batch, retried one by one
        self._arriving = 0
        self._busy = False  # a batch is in the predict thread
        self._scheduled = False  # a _dispatch() is due in this or the next loop turn
        self._timer: asyncio.TimerHandle | None = None
        self._waited = False  # the current batch has waited its max_batch_wait already
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: queue.SimpleQueue[list[_Pending] | None] = queue.SimpleQueue()

    def start(self) -> None:
        """Start the predict thread; call inside the event loop that will submit."""
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._work, name="predict", daemon=True).start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._jobs.put(None)

    # --- the caller's side ---------------------------------------------------------

    def expect(self) -> None:
        """A request is arriving: its body is not read or decoded yet."""
        self._arriving += 1

    def arrived(self) -> None:
        """An expected request was decoded (and is about to be submitted), or never will be."""
        self._arriving -= 1
        if self._arriving == 0 and self._timer is not None:
            self._schedule()

    def submit(self, item: Any, size: int) -> asyncio.Future[Any]:
        """Queue `item` (`size` rows); the future gets its own result."""
        assert self._loop is not None, "start() the batcher inside the event loop first"  # noqa: S101 - programming-error check, free under -O
        future = self._loop.create_future()
        self._queue.append(_Pending(item, size, future))
        self._queued_rows += size
        self._schedule()
        return future

    # --- the event loop's side -----------------------------------------------------

    def _schedule(self) -> None:
        """Dispatch once the requests already runnable in this loop turn have queued too."""
        if not self._scheduled and not self._busy:
            self._scheduled = True
            assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._busy or not (self._queue or self._solo):
            return
        if not self._solo and self._should_wait():
            if self._timer is None:
                assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
                self._timer = self._loop.call_later(self.max_batch_wait_s, self._waited_enough)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waited = False
        batch = [self._solo.popleft()] if self._solo else self._take()
        if batch:
            self._busy = True
            self._jobs.put(batch)
        elif self._queue or self._solo:
            self._schedule()

    def _should_wait(self) -> bool:
        return (self._arriving > 0 and self._queued_rows < self.max_batch_size
                and self.max_batch_wait_s > 0 and not self._waited)

    def _waited_enough(self) -> None:
        self._timer = None
        self._waited = True
        self._dispatch()

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        queue_ = self._queue
        while queue_:
            pending = queue_[0]
            if pending.future.done():  # timed out or cancelled while queued
                queue_.popleft()
                self._queued_rows -= pending.size
                continue
            if batch and rows + pending.size > self.max_batch_size:
                break
            batch.append(queue_.popleft())
            self._queued_rows -= pending.size
            rows += pending.size
        return batch

    def _finish(self, batch: list[_Pending], results: list[Any] | None, error: Exception | None,
                seconds: float) -> None:
        self._busy = False
        if error is not None:
            if len(batch) == 1:
                _resolve(batch[0].future, exc=error)
            else:  # isolate the request that broke the batch
                self._solo.extend(pending for pending in batch if not pending.future.done())
        else:
            assert results is not None  # noqa: S101 - narrows the type; no error means results
            if self._on_batch is not None:
                self._on_batch(sum(pending.size for pending in batch), seconds)
            for pending, result in zip(batch, results, strict=True):
                _resolve(pending.future, result=result)
        if self._queue or self._solo:
            self._schedule()

    # --- the predict thread --------------------------------------------------------

    def _work(self) -> None:
        while (batch := self._jobs.get()) is not None:
            started = time.perf_counter()
            results: list[Any] | None = None
            error: Exception | None = None
            try:
                results = self._predict_batch([pending.item for pending in batch])
            except Exception as exc:  # every model error goes back to its caller
                error = exc
            try:
                assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
                self._loop.call_soon_threadsafe(self._finish, batch, results, error, time.perf_counter() - started)
            except RuntimeError:  # the event loop is closed: the worker is stopping
                return


def _resolve(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
