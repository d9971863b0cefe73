"""A Kubernetes deployment's retained logs, read through the pod log API (what `kubectl logs` reads).

What is retained is what the kubelet keeps on the pod's node: each container's current log file
(rotated at its `containerLogMaxSize`, 10 MiB by default; the API serves the current file only),
and the log of the container that ran before the last restart (`previous=true`). A pod's logs go
with the pod. Nothing is copied elsewhere, so there is nothing to prune: the kubelet rotates and
deletes them.

Sources are what the local runtime has: each replica by its name (status.named_pods names pods as
`replicas()` does) and "gateway" (every gateway pod). Each source reads one or more streams: a
container instance's log, (pod uid, container, restart count), its current container and the
previous one, every pod's for the gateway.

Every line is read with `timestamps=true`: the kubelet prefixes it with the RFC 3339 time (to the
nanosecond) at which the container wrote it. A position (deployments.backends.base's Position) is
`(ns, tag)`: the line's timestamp in nanoseconds since the epoch, and a tag of the stream's id
(51 bits of a hash of uid/container/restart count) and the line's place among the stream's lines
stamped the same nanosecond (11 bits). Tuples compare in time order, whatever pod or restart a
line comes from; a line's `start` is its own `(ns, tag)` and its `after` is `(ns, tag + 1)`, so
paging back (`< before`) and reading forward (`>= after`) neither skip nor repeat a line, and a
cursor still works once a replica's name has moved to another pod. A line without a timestamp
prefix (the kubelet always writes one; a runtime might not) is kept, stamped like the line before it.

Paging back asks for the last `tailLines` of each stream, four times as many each time the page
reaches further back, up to the whole retained log. Reading forward asks for `sinceTime` (whole
seconds: the API's precision) and keeps the lines at or after the cursor. Following opens one
`follow=true` stream per container, each in a thread, from the first look at the pods (less the
last seconds, as the local runtime does) or, for a pod or container started later, from its
first line; the pods are listed again every few seconds to pick up new ones, and a stream that
dropped while its container still runs is opened again after its last line. Following rather than
polling with `sinceTime`: the kubelet then passes each line on as it is written, over one open
connection per container, where polling would ask the API server (and through it the kubelet) for
every container every `poll_s` (5 requests a second per pod at 200 ms), each answer repeating the
last whole second of lines, and a line would still wait for the next poll.

No Django here: the backend passes the API, namespace, selectors and container names in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import queue
import re
import threading
import time
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deployments.backends.base import BackendError
from deployments.backends.kubernetes.client import Api, Obj
from deployments.backends.kubernetes.labels import COMPONENT_LABEL, GATEWAY, MODEL_SERVER
from deployments.backends.kubernetes.status import named_pods
from deployments.backends.log_files import Position, RawLine

log = logging.getLogger(__name__)
_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")

GATEWAY_SOURCE = "gateway"
FIRST_TAIL = 1000            # lines asked for when paging back starts; ×4 each time it reaches further
WHOLE_LOG_FROM = 256_000     # past this many lines, ask for the whole retained log
END_TAIL = 20                # lines read to find where a stream ends
ORDINAL_BITS = 11
STREAM_BITS = 51
FOLLOW_REWIND_NS = 5 * 10**9  # a new reader first sends the last seconds' lines: none is lost while it starts
LOOK_S = 2.0                  # how often the follower lists the pods again
READ_TIMEOUT_S = 60.0         # a followed stream quiet this long is opened again (a silently dropped connection)
PODS_TTL_S = 1.0              # one listing of the pods serves the calls of one page


@dataclass(frozen=True)
class Stream:
    """One container instance's log, as the API serves it now."""

    source: str
    pod: str
    uid: str
    container: str
    restarts: int       # the instance's restart count (0: the pod's first)
    previous: bool      # read with previous=true (it exited; the kubelet keeps its log until the next exit)
    running: bool = False

    @property
    def id(self) -> int:
        digest = hashlib.blake2b(f"{self.uid}/{self.container}/{self.restarts}".encode(), digest_size=8).digest()
        return int.from_bytes(digest) >> (64 - STREAM_BITS)


def stamp_ns(text: bytes) -> int | None:
    """`2026-12-02T12:00:01.123456789Z` (RFC 3339, any fraction, any offset) in ns since the epoch; None if not one."""
    match = _STAMP.fullmatch(text)
    if match is None:
        return None
    zone = match[3].decode()
    try:
        when = datetime.fromisoformat(match[1].decode() + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return int(when.timestamp()) * 10**9 + int((match[2] or b"0").decode().ljust(9, "0"))


def since_time(ns: int) -> str:
    """`sinceTime` for lines stamped at or after `ns`: its whole second (the API takes no finer)."""
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LineParser:
    """A stream's lines as RawLines with their positions: fed the response's bytes, in order.

    Lines stamped the same nanosecond are told apart by their place among them, so a read must start
    at a whole-second `sinceTime`, or the log's first line: then each line gets the same position
    whichever read found it. Lines before the first stamped one take its time."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.pending = b""
        self.unstamped: list[bytes] = []   # lines before the first stamped one
        self.last_ns: int | None = None
        self.ordinal = 0

    def feed(self, data: bytes, read_at: float | None = None) -> list[RawLine]:
        """The whole lines completed by `data` (a line still being written waits for its newline)."""
        *whole, self.pending = (self.pending + data).split(b"\n")
        lines: list[RawLine] = []
        for part in whole:
            prefix, _, rest = part.partition(b" ")
            ns = stamp_ns(prefix)
            if ns is None and self.last_ns is None:
                self.unstamped.append(part)
                continue
            if ns is None:
                ns, text = self.last_ns, part
            else:
                text = rest
            for early in self.unstamped:
                lines.append(self._line(ns, early, read_at))  # type: ignore[arg-type]
            self.unstamped.clear()
            lines.append(self._line(ns, text, read_at))  # type: ignore[arg-type]
        return lines

    def close(self, fallback_ns: int, read_at: float | None = None) -> list[RawLine]:
        """Lines never followed by a stamped one (only when the log has no stamp at all)."""
        lines = [self._line(fallback_ns, early, read_at) for early in self.unstamped]
        self.unstamped.clear()
        return lines

    def _line(self, ns: int, data: bytes, read_at: float | None) -> RawLine:
        self.ordinal = self.ordinal + 1 if ns == self.last_ns else 0
        self.last_ns = ns
        tag = (self.stream.id << ORDINAL_BITS) | min(self.ordinal, 2**ORDINAL_BITS - 1)
        return RawLine(self.stream.source, data.decode(errors="replace"), ns, tag, tag + 1, read_at=read_at,
                       file_mtime=ns / 1e9, stamped=ns / 1e9)


@dataclass
class PodLogs:
    """One deployment's pods' logs (namespace, selectors and container names given by the backend)."""

    api: Api
    deployment_pk: int
    namespace: str
    selector: str                       # every pod of the deployment
    containers: dict[str, str]          # component label -> the container whose log is that pod's
    _pods: tuple[float, list[Obj]] | None = field(default=None, repr=False)

    # --- which streams there are ---------------------------------------------------------

    def pods(self, fresh: bool = False) -> list[Obj]:
        now = time.monotonic()
        if fresh or self._pods is None or now - self._pods[0] > PODS_TTL_S:
            self._pods = (now, self.api.pods(self.namespace, self.selector))
        return self._pods[1]

    def sources(self) -> list[str]:
        pods = self.pods()
        names = [rid.name for rid, _ in named_pods(self.deployment_pk, self._component(pods, MODEL_SERVER))]
        return names + ([GATEWAY_SOURCE] if self._component(pods, GATEWAY) else [])

    def streams(self, source: str | None = None, fresh: bool = False) -> list[Stream]:
        """Every stream of the source (None: of every source), oldest first for each pod."""
        pods = self.pods(fresh)
        found: list[Stream] = []
        if source in (None, GATEWAY_SOURCE):
            for pod in self._component(pods, GATEWAY):
                if not pod["metadata"].get("deletionTimestamp"):
                    found += _pod_streams(GATEWAY_SOURCE, pod, self.containers[GATEWAY])
        for rid, pod in named_pods(self.deployment_pk, self._component(pods, MODEL_SERVER)):
            if source in (None, rid.name):
                found += _pod_streams(rid.name, pod, self.containers[MODEL_SERVER])
        return found

    @staticmethod
    def _component(pods: list[Obj], component: str) -> list[Obj]:
        return [p for p in pods if (p["metadata"].get("labels") or {}).get(COMPONENT_LABEL) == component]

    # --- reading -------------------------------------------------------------------------

    def read(self, stream: Stream, tail: int | None = None, since_ns: int | None = None) -> tuple[list[RawLine], bool]:
        """The stream's lines (the last `tail`, or those since that second); True: more lines were left out
        before the first (the tail cut the log). The lines of the first nanosecond are then left out too:
        the cut may have come between two of them, and their places among them would be wrong."""
        response = self.api.log_response(self.namespace, stream.pod, stream.container, previous=stream.previous,
                                          tail=tail, since_time=since_time(since_ns) if since_ns is not None else "",
                                          timeout=(10, READ_TIMEOUT_S))
        if response is None:
            return [], False
        try:
            data = response.read()
        finally:
            response.release_conn()
        count = data.count(b"\n")
        parser = LineParser(stream)
        lines = parser.feed(data)  # a last line without its newline is still being written: next time
        cut = tail is not None and count >= tail
        if cut and lines:
            lines = [line for line in lines if line.file_id != lines[0].file_id]
        return lines, cut

    def end(self, source: str) -> Position | None:
        """Just after the source's newest line (None: no line yet)."""
        newest = None
        for stream in self.streams(source):
            lines, _ = self.read(stream, tail=END_TAIL)
            if not lines:
                lines, _ = self.read(stream)  # the last lines were all stamped the same nanosecond
            if lines and (newest is None or lines[-1].file_id > newest):
                newest = lines[-1].file_id
        return None if newest is None else (newest + 1, 0)

    def backward(self, source: str, before: Position | None) -> Iterator[RawLine]:
        streams = [self._backward(stream, before) for stream in self.streams(source)]
        yield from heapq.merge(*streams, key=lambda line: line.start, reverse=True)

    def _backward(self, stream: Stream, before: Position | None) -> Iterator[RawLine]:
        tail: int | None = FIRST_TAIL
        bound = before
        while True:
            lines, cut = self.read(stream, tail=tail)
            for line in reversed(lines):
                if bound is None or line.start < bound:
                    bound = line.start
                    yield line
            if not cut:
                return
            tail = None if tail is None or tail * 4 > WHOLE_LOG_FROM else tail * 4

    def forward(self, source: str, after: Position | None) -> Iterator[RawLine]:
        streams = [self._forward(stream, after) for stream in self.streams(source)]
        yield from heapq.merge(*streams, key=lambda line: line.start)

    def _forward(self, stream: Stream, after: Position | None) -> Iterator[RawLine]:
        lines, _ = self.read(stream, since_ns=after[0] if after is not None else None)
        yield from (line for line in lines if after is None or line.start >= after)

    # --- following -----------------------------------------------------------------------

    async def follow(self, poll_s: float) -> AsyncGenerator[list[RawLine], None]:
        """Every stream's new lines, a batch every `poll_s`; new pods and restarted containers from their
        first line. Blocking calls run in threads; ends only when cancelled (or closed)."""
        follower = Follower(self)
        try:
            while True:
                if time.monotonic() >= follower.next_look:
                    await asyncio.to_thread(follower.look)
                await asyncio.sleep(poll_s)
                yield follower.drain()
        finally:
            follower.close()


@dataclass
class _Followed:
    stream: Stream
    after: Position | None           # just after the last line sent
    since_ns: int | None             # lines stamped before this are not sent (None: from the first)
    response: Any = None
    ended: bool = False


class Follower:
    """`look()` starts a `follow=true` reader thread for each running container not read yet (in a thread of
    its own: it lists the pods); the readers put lines in one queue, `drain()` takes them."""

    def __init__(self, logs: PodLogs) -> None:
        self.logs = logs
        self.lines: queue.SimpleQueue[RawLine] = queue.SimpleQueue()
        self.followed: dict[int, _Followed] = {}
        self.started_ns = time.time_ns()
        self.first = True
        self.next_look = 0.0
        self.stopped = threading.Event()
        self.lock = threading.Lock()

    def look(self) -> None:
        self.next_look = time.monotonic() + LOOK_S
        try:
            streams = self.logs.streams(fresh=True)
        except BackendError as exc:
            log.warning("deployment %s: cannot list its pods for their logs: %s", self.logs.deployment_pk, exc)
            return
        with self.lock:
            for stream in streams:
                followed = self.followed.get(stream.id)
                if followed is None:
                    if stream.previous and self.first:
                        continue  # exited before the reader started: history has it
                    since = self.started_ns - FOLLOW_REWIND_NS if self.first else None
                    self._start(stream, None, since)
                elif followed.ended and stream.running and not self.stopped.is_set():
                    self._start(stream, followed.after, followed.since_ns)  # the connection dropped: go on
            current = {stream.id for stream in streams}
            for gone in [sid for sid, f in self.followed.items() if f.ended and sid not in current]:
                del self.followed[gone]
        self.first = False

    def _start(self, stream: Stream, after: Position | None, since_ns: int | None) -> None:
        followed = _Followed(stream, after, since_ns)
        self.followed[stream.id] = followed
        threading.Thread(target=self._read, args=(followed,), name=f"log of {stream.pod}/{stream.container}",
                         daemon=True).start()

    def _read(self, followed: _Followed) -> None:
        stream = followed.stream
        start = followed.after[0] if followed.after is not None else followed.since_ns
        try:
            response = self.logs.api.log_response(
                self.logs.namespace, stream.pod, stream.container, previous=stream.previous,
                follow=not stream.previous, since_time=since_time(start) if start is not None else "",
                timeout=(10, READ_TIMEOUT_S))
            if response is None:
                return
            followed.response = response
            if self.stopped.is_set():
                return
            parser = LineParser(stream)
            for chunk in response.stream(64 * 1024, decode_content=False):
                self._send(followed, parser.feed(chunk, time.time()))
            self._send(followed, parser.close(time.time_ns(), time.time()))
        except Exception as exc:  # a dropped stream is opened again at the next look
            if not self.stopped.is_set():
                log.info("the log stream of pod %s (%s) ended: %s", stream.pod, stream.container, exc)
        finally:
            followed.ended = True
            if followed.response is not None:
                followed.response.release_conn()

    def _send(self, followed: _Followed, lines: Iterable[RawLine]) -> None:
        for line in lines:
            if followed.after is not None and line.start < followed.after:
                continue
            if followed.since_ns is not None and line.file_id < followed.since_ns:
                continue
            followed.after = line.after
            self.lines.put(line)

    def drain(self) -> list[RawLine]:
        batch = []
        while True:
            try:
                batch.append(self.lines.get_nowait())
            except queue.Empty:
                return batch

    def close(self) -> None:
        """Stop every reader: their connections are shut, so a thread blocked reading wakes and ends."""
        self.stopped.set()
        with self.lock:
            for followed in self.followed.values():
                if followed.response is not None:
                    with contextlib.suppress(Exception):  # it ended by itself meanwhile
                        followed.response.shutdown()


def _pod_streams(source: str, pod: Obj, container: str) -> list[Stream]:
    """The pod's container's streams the API serves, oldest first: the instance before the last restart
    (previous=true), and the current one unless it waits to start (then the last one that ran is previous)."""
    uid, name = pod["metadata"].get("uid", ""), pod["metadata"]["name"]
    status = next((s for s in (pod.get("status") or {}).get("containerStatuses") or [] if s.get("name") == container),
                  None)
    if status is None:
        return []
    restarts = int(status.get("restartCount") or 0)
    state = status.get("state") or {}
    exited = (status.get("lastState") or {}).get("terminated")
    if "running" in state or "terminated" in state:
        found = [Stream(source, name, uid, container, restarts - 1, previous=True)] if exited and restarts else []
        return [*found, Stream(source, name, uid, container, restarts, previous=False, running="running" in state)]
    if exited:  # waiting to start again (CrashLoopBackOff): the instance that exited last
        return [Stream(source, name, uid, container, restarts, previous=True)]
    return []
