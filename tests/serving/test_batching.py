"""The adaptive batcher on its own: when it waits for more requests, and when it doesn't."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from serving.batching import AdaptiveBatcher


def run(test: Callable[[AdaptiveBatcher, list[list[Any]]], Awaitable[Any]], max_batch_size: int = 8,
        max_batch_wait_s: float = 1.0) -> Any:
    """Run `test` with a started batcher whose model doubles each item; `calls` lists every batch."""
    calls: list[list[Any]] = []

    def predict(items: list[Any]) -> list[Any]:
        calls.append(items)
        return [item * 2 for item in items]

    async def main() -> Any:
        batcher = AdaptiveBatcher(predict, max_batch_size, max_batch_wait_s)
        batcher.start()
        try:
            return await test(batcher, calls)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_a_lone_request_is_predicted_at_once_whatever_the_longest_wait() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> float:
        started = time.monotonic()
        assert await batcher.submit(21, 1) == 42
        return time.monotonic() - started

    assert run(test, max_batch_wait_s=5.0) < 0.5


def test_requests_queued_together_share_one_predict() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> list[list[Any]]:
        assert await asyncio.gather(*(batcher.submit(i, 1) for i in range(5))) == [0, 2, 4, 6, 8]
        return calls

    assert run(test, max_batch_wait_s=0.0) == [[0, 1, 2, 3, 4]]


def test_it_waits_for_a_request_known_to_be_arriving() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> list[list[Any]]:
        batcher.expect()
        first = batcher.submit(1, 1)
        await asyncio.sleep(0.05)  # the body of the expected request is still on its way
        assert calls == []
        batcher.arrived()
        second = batcher.submit(2, 1)
        assert await asyncio.gather(first, second) == [2, 4]
        return calls

    assert run(test) == [[1, 2]]


def test_it_stops_waiting_when_an_expected_request_never_comes() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> float:
        started = time.monotonic()
        batcher.expect()
        first = batcher.submit(1, 1)
        await asyncio.sleep(0.05)
        batcher.arrived()  # its body was not JSON, say: nothing is submitted
        assert await first == 2
        return time.monotonic() - started

    assert run(test) < 0.5


def test_it_never_waits_longer_than_the_longest_wait() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> float:
        started = time.monotonic()
        batcher.expect()  # and never arrives
        assert await batcher.submit(1, 1) == 2
        return time.monotonic() - started

    assert 0.15 <= run(test, max_batch_wait_s=0.2) < 1.0


def test_with_batches_of_one_nothing_waits() -> None:
    async def test(batcher: AdaptiveBatcher, calls: list[list[Any]]) -> float:
        started = time.monotonic()
        batcher.expect()
        assert await batcher.submit(1, 1) == 2
        return time.monotonic() - started

    assert run(test, max_batch_size=1, max_batch_wait_s=5.0) < 0.5


def where_batches_run(seconds_per_batch: float, may_block: bool) -> list[str]:
    """The thread each of 12 one-request batches ran in."""
    threads: list[str] = []

    def predict(items: list[Any]) -> list[Any]:
        threads.append(threading.current_thread().name)
        time.sleep(seconds_per_batch)
        return items

    async def main() -> None:
        batcher = AdaptiveBatcher(predict, 8, 0.0, may_block=may_block)
        batcher.typical_batch_s = 0.0  # as measured by a quick warm-up
        batcher.start()
        try:
            for i in range(12):
                await batcher.submit(i, 1)
        finally:
            await batcher.stop()

    asyncio.run(main())
    return threads


def test_quick_batches_of_a_framework_model_run_in_the_event_loop() -> None:
    assert set(where_batches_run(0.0, may_block=False)) == {"MainThread"}


def test_a_model_whose_batches_grow_slow_moves_to_the_predict_thread() -> None:
    threads = where_batches_run(0.01, may_block=False)
    assert threads[0] == "MainThread"
    assert threads[-3:] == ["predict"] * 3


def test_a_model_that_may_block_always_predicts_in_the_predict_thread() -> None:
    assert set(where_batches_run(0.0, may_block=True)) == {"predict"}
