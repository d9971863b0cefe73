"""Per-request timeouts with one timer per worker instead of one per request.

Every request gets the same timeout, so deadlines come in order: the watches wait in a queue,
and a single timer, armed for the oldest live deadline, cancels the tasks that pass theirs.
`asyncio.timeout()` costs ~8 µs a request (a timer handle, its Python state machine); a
watch costs an append and a flag.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Watch:
    """One request's deadline; `expired` says the cancellation came from it."""

    __slots__ = ("deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task: asyncio.Task[object] | None = task
        self.deadline = deadline
        self.expired = False

    def release(self) -> None:
        """The request is answered (or failed): no cancelling it any more."""
        self.task = None


class Deadlines:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._watches: deque[Watch] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> Watch:
        """Watch the current task: it is cancelled once `timeout_s` has passed, unless done before."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None, "watch() from inside a task"  # noqa: S101 - programming-error check, free under -O
        watch = Watch(task, loop.time() + self.timeout_s)
        watches = self._watches
        while watches and watches[0].task is None:  # answered in order, mostly: keep the queue short
            watches.popleft()
        watches.append(watch)
        if self._timer is None:
            self._timer = loop.call_at(watch.deadline, self._expire)
        return watch

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        watches = self._watches
        while watches and (watches[0].task is None or watches[0].deadline <= now):
            watch = watches.popleft()
            if watch.task is not None:
                watch.expired = True
                watch.task.cancel()
        if watches:
            self._timer = loop.call_at(watches[0].deadline, self._expire)
