"""Adaptive batching wrapped around a runtime (the runtime never knows about it).

Callers `submit()` their rows and await their own results. One predict runs at a time per
worker process, in the predict thread, so the event loop keeps reading requests meanwhile:

* a batch starts as soon as the model is free, with every request already queued, up to
  `max_batch_size` rows;
* while requests keep being queued turn after turn of the event loop, or are known to be
  arriving (headers read, body not yet decoded: between `expect()` and `arrived()`), it
  gathers them for up to `max_batch_wait`, never longer;
* otherwise it starts at once: a lone request pays no batching delay (one loop turn), and
  with `max_batch_size=1` nothing ever waits.

While one batch runs, the next requests queue up, so under load batches fill up on their
own. If a batch fails, its requests are retried one by one, so one bad request can't fail
its batch-mates.

Where a batch runs: a model that may block (user code: I/O, sleeps) always predicts in the
predict thread, so the event loop keeps answering health checks and timeouts meanwhile. A
framework model whose batches take under `INLINE_MAX_S` on average predicts in the event
loop itself: handing a batch to a thread and back costs more than such a predict (two thread
wake-ups and a GIL hand-over, ~0.1 ms), and its Python code would hold the GIL anyway. If its
batches grow slower, it moves to the thread.
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

from serving.model_output import SERVING

PredictBatch = Callable[[list[Any]], list[Any]]  # items → one result per item
INLINE_MAX_S = 0.002  # the longest a batch predicted in the event loop blocks it, on average


@dataclass(slots=True)
class _Pending:
    item: Any
    size: int
    future: asyncio.Future[Any] = field(repr=False)
    request_id: str = ""


class AdaptiveBatcher:
    def __init__(
        self,
        predict_batch: PredictBatch,
        max_batch_size: int,
        max_batch_wait_s: float,
        on_batch: Callable[[int, float], None] | None = None,
        may_block: bool = True,
    ) -> None:
        self._predict_batch = predict_batch
        self.may_block = may_block  # False: quick batches may run in the event loop
        self.typical_batch_s = INLINE_MAX_S  # moving average of the time one predict takes
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
        self._gathering_since: float | None = None  # loop time the next batch began gathering
        self._submitted = 0  # requests submitted so far
        self._looked_at = 0  # what _submitted was when the dispatcher was last scheduled
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

    def submit(self, item: Any, size: int, request_id: str = "") -> asyncio.Future[Any]:
        """Queue `item` (`size` rows) of request `request_id`; the future gets its own result."""
        assert self._loop is not None, "start() the batcher inside the event loop first"  # noqa: S101 - programming-error check, free under -O
        future = self._loop.create_future()
        self._queue.append(_Pending(item, size, future, request_id))
        self._queued_rows += size
        self._submitted += 1
        self._schedule()
        return future

    # --- the event loop's side -----------------------------------------------------

    def _schedule(self) -> None:
        """Dispatch two loop turns from now: requests whose bytes the next turn reads get to run
        (and queue) before the dispatcher looks, not after it."""
        if not self._scheduled and not self._busy:
            self._scheduled = True
            self._looked_at = self._submitted
            assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
            self._loop.call_soon(self._next_turn if self.max_batch_wait_s > 0 else self._dispatch)

    def _next_turn(self) -> None:
        assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
        self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._busy or not (self._queue or self._solo):
            return
        if not self._solo and self._gathering():
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._gathering_since = None
        batch = [self._solo.popleft()] if self._solo else self._take()
        if not batch:
            if self._queue or self._solo:
                self._schedule()
            return
        self._busy = True
        if self.may_block or self.typical_batch_s >= INLINE_MAX_S:
            self._jobs.put(batch)
        else:
            self._finish(batch, *self._predict(batch))

    def _gathering(self) -> bool:
        """Whether to let the batch gather more requests: look again next turn, or when a timer fires."""
        if self.max_batch_wait_s <= 0 or self._queued_rows >= self.max_batch_size:
            return False
        assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
        now = self._loop.time()
        if self._gathering_since is None:
            self._gathering_since = now
        remaining = self._gathering_since + self.max_batch_wait_s - now
        if remaining <= 0:
            return False
        if self._submitted != self._looked_at:  # requests kept coming in during the last turn
            self._schedule()
            return True
        if self._arriving > 0:
            if self._timer is None:
                self._timer = self._loop.call_later(remaining, self._waited_enough)
            return True
        return False

    def _waited_enough(self) -> None:
        self._timer = None
        self._gathering_since = float("-inf")
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

    def _predict(self, batch: list[_Pending]) -> tuple[list[Any] | None, Exception | None, float]:
        """One predict call, in whichever thread runs it; what the model prints or logs meanwhile
        names the requests it serves (serving.model_output)."""
        serving = SERVING.set(tuple([pending.request_id for pending in batch]))
        started = time.perf_counter()
        try:
            return self._predict_batch([pending.item for pending in batch]), None, time.perf_counter() - started
        except Exception as exc:  # every model error goes back to its caller
            return None, exc, time.perf_counter() - started
        finally:
            SERVING.reset(serving)

    def _finish(self, batch: list[_Pending], results: list[Any] | None, error: Exception | None,
                seconds: float) -> None:
        self._busy = False
        self.typical_batch_s += (seconds - self.typical_batch_s) / 8
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
            outcome = self._predict(batch)
            try:
                assert self._loop is not None  # noqa: S101 - narrows the type; start() set it
                self._loop.call_soon_threadsafe(self._finish, batch, *outcome)
            except RuntimeError:  # the event loop is closed: the worker is stopping
                return


def _resolve(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
