"""Adaptive batching wrapped around a runtime (the runtime never knows about it).

Callers `submit()` their rows and await their own results. One batch loop per worker
process runs one `predict` at a time:

* it takes every request already queued, up to `max_batch_size` rows;
* if requests are known to be arriving (headers read, body not yet decoded — the
  `arriving` counter), it waits for them up to `max_batch_wait`, never longer;
* otherwise it runs at once, so a lone request pays no batching delay, and with
  `max_batch_size=1` nothing ever waits.

While one batch runs in the predict thread, the event loop keeps reading requests, so
under load batches fill up on their own. If a batch fails, its requests are retried one
by one, so one bad request can't fail its batch-mates.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

PredictBatch = Callable[[list[Any]], list[Any]]  # items → one result per item


@dataclass
class _Pending(Generic[Item]):
    item: Item
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
        self.max_batch_wait_s = max_batch_wait_s
        self._on_batch = on_batch
        self._queue: deque[_Pending[Any]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self.arriving = 0  # requests read but not yet submitted; owned by the caller side

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-loop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, item: Any, size: int) -> asyncio.Future[Any]:
        """Queue `item` (`size` rows); the future gets its own result."""
        assert self._wakeup is not None, "start() the batcher inside the event loop first"  # noqa: S101 - programming-error check, free under -O
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, size, future))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        assert self._wakeup is not None  # noqa: S101 - narrows the type; start() set it
        while True:
            await self._wakeup.wait()
            batch = await self._collect()
            if not self._queue:
                self._wakeup.clear()
            if batch:
                await self._execute(batch)

    async def _collect(self) -> list[_Pending[Any]]:
        batch: list[_Pending[Any]] = []
        rows = self._take(batch, 0)
        if rows >= self.max_batch_size or self.max_batch_size == 1 or self.max_batch_wait_s <= 0:
            return batch
        deadline = time.monotonic() + self.max_batch_wait_s
        while rows < self.max_batch_size and self.arriving > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._wait_for_more(remaining)
            rows = self._take(batch, rows)
        return batch

    def _take(self, batch: list[_Pending[Any]], rows: int) -> int:
        queue = self._queue
        while queue:
            pending = queue[0]
            if pending.future.done():  # timed out or cancelled while queued
                queue.popleft()
                continue
            if batch and rows + pending.size > self.max_batch_size:
                break
            batch.append(queue.popleft())
            rows += pending.size
        return rows

    async def _wait_for_more(self, remaining: float) -> None:
        assert self._wakeup is not None  # noqa: S101 - narrows the type; start() set it
        self._wakeup.clear()
        try:
            async with asyncio.timeout(remaining):
                await self._wakeup.wait()
        except TimeoutError:
            pass

    async def _execute(self, batch: list[_Pending[Any]]) -> None:
        loop = asyncio.get_running_loop()
        items = [pending.item for pending in batch]
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self._predict_batch, items)
        except Exception as exc:  # every model error goes back to its caller
            if len(batch) == 1:
                _resolve(batch[0].future, exc=exc)
                return
            for pending in batch:  # isolate the request that broke the batch
                await self._execute([pending])
            return
        if self._on_batch is not None:
            self._on_batch(sum(p.size for p in batch), time.perf_counter() - started)
        for pending, result in zip(batch, results, strict=True):
            _resolve(pending.future, result=result)


def _resolve(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
