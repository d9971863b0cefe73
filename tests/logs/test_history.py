"""Paging through retained logs: the newest first, "load older" back through rotated files, filters on
the server, and what is new since a page; never a line skipped or shown twice."""

from __future__ import annotations

import os

import pytest

from deployments.backends.local import LocalBackend
from deployments.logs.history import newer_page, older_page
from deployments.logs.query import LogQuery, decode_cursor
from tests.logs.conftest import CHALLENGER, OTHER_REPLICA, REPLICA, json_line, log_path, request_line, write

pytestmark = pytest.mark.django_db


def ts(second: int) -> str:
    return f"2026-12-01T12:{second // 60:02d}:{second % 60:02d}.000Z"


def every_page(deployment, query, limit):
    backend, pages, before = LocalBackend.from_settings(), [], None
    while True:
        page = older_page(backend, deployment, query, before, limit)
        pages.append(page)
        if page.older is None:
            return pages
        before = decode_cursor(page.older)


def test_load_older_pages_back_through_rotated_files_and_every_replica_once(deployment):
    # 30 lines per replica, 10 in each of .log.2 (oldest), .log.1 and .log, written interleaved in time
    for index, source in enumerate((REPLICA, OTHER_REPLICA)):
        for rotated, base in ((2, 0), (1, 20), (0, 40)):
            write(deployment, source, *[request_line(ts(base + 2 * n + index), f"{source}-{base + n}")
                                        for n in range(10)], rotated=rotated)

    pages = every_page(deployment, LogQuery(), limit=7)

    seen = [line.request_id for page in reversed(pages) for line in page.lines]
    assert len(seen) == 60
    assert len(set(seen)) == 60
    times = [line.time for page in reversed(pages) for line in page.lines]
    assert times == sorted(times)
    assert [line.request_id for line in pages[0].lines][-1] == f"{OTHER_REPLICA}-49"  # the newest comes first


def test_the_server_filters_by_variation_replica_level_text_and_request_id(deployment):
    write(deployment, REPLICA, request_line(ts(1), "keep-me"), json_line(ts(2), "log", level="error", message="boom"),
          "plain text from model code")
    write(deployment, CHALLENGER, request_line(ts(3), "other"))
    write(deployment, "gateway", json_line(ts(4), "routes_loaded", version="v7"))
    backend = LocalBackend.from_settings()

    def texts(**params: str) -> list[str]:
        return [line.summary for line in older_page(backend, deployment, LogQuery.parse(params)).lines]

    assert len(texts()) == 5
    assert texts(variation="challenger") == ["POST /v1/predict 200 3.1 ms"]
    assert texts(replica="gateway") == ["version=v7"]
    assert texts(level="error") == ["boom"]
    assert texts(q="MODEL CODE") == ["plain text from model code"]
    assert [line.request_id for line in older_page(backend, deployment, LogQuery(request_id="keep-me")).lines] == [
        "keep-me"]


def test_newer_continues_after_a_page_even_across_a_rotation(deployment):
    path = write(deployment, REPLICA, request_line(ts(1), "old"))
    backend = LocalBackend.from_settings()
    page = older_page(backend, deployment, LogQuery())
    write(deployment, REPLICA, request_line(ts(2), "before-rotation"))
    os.rename(path, log_path(deployment, REPLICA, rotated=1))  # what supervisord does at the size limit
    write(deployment, REPLICA, request_line(ts(3), "after-rotation"))
    write(deployment, CHALLENGER, request_line(ts(4), "new-replica"))

    newer = newer_page(backend, deployment, LogQuery(), decode_cursor(page.newer, "after"))
    again = newer_page(backend, deployment, LogQuery(), decode_cursor(newer.newer, "after"))

    assert [line.request_id for line in newer.lines] == ["before-rotation", "after-rotation", "new-replica"]
    assert again.lines == []


def test_a_time_range_stops_reading_well_before_its_start(deployment):
    write(deployment, REPLICA, *[request_line(ts(n), f"r{n}") for n in range(0, 600, 10)])
    backend = LocalBackend.from_settings()

    query = LogQuery.parse({"since": "2026-12-01T12:05:00Z", "until": "2026-12-01T12:06:00Z"})

    assert [line.request_id for line in older_page(backend, deployment, query).lines] == [
        f"r{n}" for n in range(300, 361, 10)]
