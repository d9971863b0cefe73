"""The access log: one `request` line per predict request (and per error), in the same JSON
line format as every other event (serving.logs), but written every few milliseconds.

A busy worker answers many requests meanwhile; their lines leave in one `os.write` of at most
PIPE_BUF bytes each, so lines of several worker processes still never interleave mid-line.
A line is written at most `WRITE_EVERY_S` after its request was answered, and after that
request's metrics (serving.request_metrics uses the same delay and records first), so a
line on stdout means its request is counted.
"""

from __future__ import annotations

import asyncio
import os
import time

import orjson

from serving.request_metrics import WRITE_EVERY_S

PIPE_BUF = 4096
_STDOUT = 1


class AccessLog:
    def __init__(self, fd: int = _STDOUT) -> None:
        self._fd = fd
        self._pid = os.getpid()  # made in the worker process, after its fork
        self._lines: list[bytes] = []
        self._second = -1
        self._prefix = ""

    def request(self, request_id: str, method: str, path: str, status: int, seconds: float) -> None:
        now = time.time()
        line = orjson.dumps(
            {"ts": self._timestamp(now), "level": "info", "event": "request", "pid": self._pid,
             "request_id": request_id, "method": method, "path": path, "status": status,
             "latency_ms": round(seconds * 1000, 3)},
            option=orjson.OPT_APPEND_NEWLINE,
        )
        if not self._lines:
            asyncio.get_running_loop().call_later(WRITE_EVERY_S, self.flush)
        self._lines.append(line)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        try:  # noqa: SIM105 - per-request path; try/except is cheaper than contextlib.suppress
            os.write(self._fd, data)
        except OSError:
            pass  # a closed stdout must never fail a request

    def _timestamp(self, now: float) -> str:
        """serving.logs' format, `2026-12-01T00:06:03.120Z`, its seconds formatted once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int(now % 1 * 1000):03d}Z"
