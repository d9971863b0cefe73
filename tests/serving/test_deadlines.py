"""Per-request deadlines: one timer per worker cancels the requests that pass theirs."""

from __future__ import annotations

import asyncio

from serving.deadlines import Deadlines, Watch


def test_a_request_past_its_deadline_is_cancelled_and_knows_it_was_the_deadline() -> None:
    async def main() -> tuple[Watch, Watch]:
        deadlines = Deadlines(timeout_s=0.05)

        async def request(seconds: float) -> Watch:
            watch = deadlines.watch()
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                assert watch.expired
            finally:
                watch.release()
            return watch

        quick, slow = await asyncio.gather(request(0.01), request(1.0))
        return quick, slow

    quick, slow = asyncio.run(main())
    assert not quick.expired
    assert slow.expired


def test_answered_requests_are_not_kept_until_their_deadline() -> None:
    async def main() -> int:
        deadlines = Deadlines(timeout_s=30)
        for _ in range(1000):
            deadlines.watch().release()
        return len(deadlines._watches)

    assert asyncio.run(main()) <= 1
