"""Pages of a deployment's retained log lines, read through its backend and filtered here.

`older_page` is what the Logs tab shows first and what "Load older" and the API's `before` page
back through; `newer_page` continues from a page's `newer` cursor (the CLI's --follow);
`lines_between` is a download. Every source (replica, gateway) is read on its own, newest or
oldest first, and the sources are merged by time; the cursor holds each source's position, so
paging neither skips nor repeats a line.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from deployments.backends.base import Backend
from deployments.backends.log_files import Position, RawLine
from deployments.logs.lines import LogLine, parse, variation_of
from deployments.logs.query import LogQuery, encode_cursor
from deployments.models import Deployment

PAGE_LINES = 200
MAX_PAGE_LINES = 1000
MAX_DOWNLOAD_LINES = 100_000
CLOCK_SKEW = timedelta(seconds=60)  # lines of one file are not strictly in time order (several workers)


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]          # oldest first
    older: str | None             # cursor for the page before this one (None: nothing older is retained)
    newer: str                    # cursor for the lines written after this page


def older_page(backend: Backend, deployment: Deployment, query: LogQuery,
               before: dict[str, Position] | None = None, limit: int = PAGE_LINES) -> LogPage:
    """The newest `limit` matching lines before the cursor (None: the newest of all)."""
    sources = _sources(backend, deployment, query)
    ends = {source: end for source in sources if (end := backend.log_end(deployment, source)) is not None}
    start = ends if before is None else {source: p for source, p in before.items() if source in sources}
    streams = [_backward(backend, deployment, source, position, query) for source, position in start.items()]
    picked = list(islice(heapq.merge(*streams, key=lambda item: item[0].time, reverse=True), limit))
    positions = dict(start)
    for _line, raw in picked:  # each source continues before the oldest line taken from it
        positions[raw.source] = raw.start
    older = encode_cursor(positions) if len(picked) == limit else None
    return LogPage([line for line, _ in reversed(picked)], older, encode_cursor(ends))


def newer_page(backend: Backend, deployment: Deployment, query: LogQuery, after: dict[str, Position],
               limit: int = MAX_PAGE_LINES) -> LogPage:
    """Matching lines written after the cursor, oldest first (at most `limit`; the cursor continues)."""
    positions = dict(after)
    per_source: dict[str, list[tuple[LogLine, RawLine]]] = {}
    for source in _sources(backend, deployment, query):
        matched = []
        for raw in backend.read_log_forward(deployment, source, after.get(source)):
            positions[source] = raw.after
            line = parse(raw, _when(raw.read_at or raw.file_mtime))
            if query.matches(line):
                matched.append((line, raw))
        per_source[source] = matched
    merged = list(heapq.merge(*per_source.values(), key=lambda item: item[0].time))
    if len(merged) > limit:  # the rest next time: each source continues after the last line taken from it
        taken = merged[:limit]
        for source in per_source:
            last = [raw for _, raw in taken if raw.source == source]
            if last:
                positions[source] = last[-1].after
            elif source in after:
                positions[source] = after[source]
            else:
                positions.pop(source, None)
        merged = taken
    return LogPage([line for line, _ in merged], None, encode_cursor(positions))


def lines_between(backend: Backend, deployment: Deployment, query: LogQuery,
                  limit: int = MAX_DOWNLOAD_LINES) -> list[LogLine]:
    """Matching lines in the query's time range, oldest first; the newest `limit` when there are more."""
    page = older_page(backend, deployment, query, None, limit)
    return page.lines


def _sources(backend: Backend, deployment: Deployment, query: LogQuery) -> list[str]:
    return [source for source in backend.log_sources(deployment)
            if query.wants_source(source, variation_of(source, deployment.pk))]


def _backward(backend: Backend, deployment: Deployment, source: str, before: Position | None,
              query: LogQuery) -> Iterator[tuple[LogLine, RawLine]]:
    """A source's matching lines, newest first. A plain line takes the time of the timed line after it
    (the file's last change for the last ones); reading stops once lines are well before `since`."""
    later: datetime | None = None
    for raw in backend.read_log_backward(deployment, source, before):
        line = parse(raw, later or _when(raw.file_mtime))
        if line.structured:
            later = line.time
        if query.since and line.time < query.since - CLOCK_SKEW:
            return
        if query.matches(line):
            yield line, raw


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
