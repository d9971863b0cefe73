"""This console process's delivery of one deployment's live log lines to its local viewers.

The reader (fanout.py) sends each batch of lines once to the group `logs_group(pk)`. The group has
one member per console process with viewers of that deployment, not one per socket: this process's
hub channel (`channel_layer.new_channel()`). One asyncio task receives on it, parses each batch
once, filters and renders it once per distinct filter (and row template) among the local viewers,
and hands the rendered rows to each viewer through an in-memory queue, in the order they came. So
Redis carries one message per batch and process, and a batch is rendered once for every viewer
with the same filters, however many watch.

The hub also says "still watching" for its process (one entry in the viewer set, renewed every third
of BERTH_LOG_READER_TTL_S, which starts a reader here if nobody reads: fanout.keep_watching), and
leaves the group and the viewer set when its last local viewer leaves. A hub whose task dies logs
the error with its traceback and closes its viewers' sockets (their pages reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from channels.layers import get_channel_layer

from deployments.logs import fanout
from deployments.logs.lines import LogLine

log = logging.getLogger(__name__)

# Batches queued for one socket before it counts as fallen behind (about 100 s of lines at the
# reader's 200 ms poll): its socket closes and its page reconnects, rather than the console
# holding an unbounded backlog for a browser that does not read.
MAX_QUEUED_BATCHES = 500


class Filter(Hashable, Protocol):
    def matches(self, line: LogLine) -> bool: ...


Render = Callable[[list[LogLine]], str]


class End(Enum):
    """Why a viewer's stream ended (the last item of its queue)."""

    GONE = "the deployment was deleted"
    BEHIND = "the viewer fell behind"
    BROKEN = "this process's hub stopped with an error"


@dataclass(eq=False)
class Viewer:
    """One local socket's subscription: its filter, how its rows are rendered, and its queue of
    rendered batches (then an End)."""

    hub: Hub
    query: Filter
    render: Render
    queue: asyncio.Queue[str | End] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED_BATCHES + 1))

    def offer(self, item: str | End) -> bool:
        """Queue an item; False (and End.BEHIND queued instead) when the viewer has fallen behind."""
        if self.queue.qsize() < MAX_QUEUED_BATCHES or isinstance(item, End):
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(item)
                return True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(End.BEHIND)
        return False


class Hub:
    """This process's member of one deployment's logs group (see the module's docstring)."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.loop = asyncio.get_running_loop()
        self.viewers: list[Viewer] = []
        self.channel = ""
        self.redis = fanout.client()
        self.tasks: list[asyncio.Task[None]] = []
        self.ready = self.loop.create_task(self._join(), name=f"log hub of deployment {pk} joining")

    async def _join(self) -> None:
        layer = _layer()
        self.channel = await layer.new_channel()
        await layer.group_add(fanout.logs_group(self.pk), self.channel)
        for task in (self.loop.create_task(self._pump(layer), name=f"log hub of deployment {self.pk}"),
                     self.loop.create_task(self._keep(), name=f"log hub keeper of deployment {self.pk}")):
            task.add_done_callback(self._ended)
            self.tasks.append(task)

    async def _pump(self, layer: Any) -> None:
        while True:
            message = await layer.receive(self.channel)
            if message.get("type") == "logs.lines":
                self.deliver([LogLine.from_json(data) for data in message["lines"]])
            elif message.get("type") == "logs.gone":
                self.end(End.GONE)

    async def _keep(self) -> None:
        """Every third of the reader TTL: this process still watches, and a reader is running."""
        while True:
            try:
                await fanout.keep_watching(self.redis, self.pk, self.channel)
            except Exception:  # Redis away for a moment: lines pause, the next tick tries again
                log.exception("deployment %s: the log hub's keeper could not reach Redis", self.pk)
            await asyncio.sleep(fanout.reader_ttl_s() / 3)

    def deliver(self, lines: Sequence[LogLine]) -> None:
        """Filter and render the batch once per distinct (filter, renderer), queue it for each viewer."""
        rendered: dict[tuple[Filter, Render], str] = {}
        for viewer in list(self.viewers):
            key = (viewer.query, viewer.render)
            if key not in rendered:
                matching = [line for line in lines if viewer.query.matches(line)]
                rendered[key] = viewer.render(matching) if matching else ""
            if rendered[key] and not viewer.offer(rendered[key]):
                log.warning("deployment %s: a log viewer fell behind by %s batches; closing its socket",
                            self.pk, MAX_QUEUED_BATCHES)
                self.viewers.remove(viewer)

    def end(self, why: End) -> None:
        for viewer in self.viewers:
            viewer.offer(why)
        self.viewers.clear()

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Loudly: a hub task that stops with an error leaves its viewers without lines."""
        if task.cancelled():
            return
        error = task.exception()
        log.error("%s died: %s: %s; closing this process's %s viewer socket(s) of it", task.get_name(),
                  type(error).__name__, error, len(self.viewers), exc_info=error)
        self.end(End.BROKEN)
        if _hubs.get(self.pk) is self:
            del _hubs[self.pk]
        self.loop.create_task(self.close(), name=f"log hub of deployment {self.pk} closing")

    async def close(self) -> None:
        """Leave the group and the viewer set (the reader stops when no process watches)."""
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.ready
        with contextlib.suppress(Exception):  # the membership and the entry expire by themselves
            if self.channel:
                await _layer().group_discard(fanout.logs_group(self.pk), self.channel)
                await fanout.stop_watching(self.redis, self.pk, self.channel)
        await self.redis.aclose()


_hubs: dict[int, Hub] = {}


async def watch(pk: int, query: Filter, render: Render) -> Viewer:
    """Subscribe a local socket to a deployment's live lines (its hub joins the group first)."""
    hub = _hubs.get(pk)
    if hub is None or hub.loop is not asyncio.get_running_loop() or _failed(hub.ready):
        hub = _hubs[pk] = Hub(pk)
    viewer = Viewer(hub, query, render)
    hub.viewers.append(viewer)
    try:
        await asyncio.shield(hub.ready)
    except BaseException:
        await unwatch(viewer)
        raise
    return viewer


async def unwatch(viewer: Viewer) -> None:
    """Unsubscribe; the hub closes when its last local viewer leaves."""
    hub = viewer.hub
    if viewer in hub.viewers:
        hub.viewers.remove(viewer)
    if not hub.viewers and _hubs.get(hub.pk) is hub:  # also when it dropped them itself (gone, behind)
        del _hubs[hub.pk]
        await asyncio.shield(hub.close())  # a cancelled disconnect still leaves the group


def _failed(task: asyncio.Task[None]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


def local_hub(pk: int) -> Hub | None:
    """This process's hub of a deployment, if any (for tests and operators)."""
    return _hubs.get(pk)


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS has no default layer: no log lines can reach the viewers")
    return layer
