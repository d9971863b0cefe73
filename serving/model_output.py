"""What a model prints becomes JSON lines that say which requests it was serving.

The model server replaces `sys.stdout` and `sys.stderr` (`capture()`, before the model loads,
so forked workers inherit it) with `LineStream`s: text is kept per thread until a newline,
then each line leaves as one JSON line in serving.logs' format, `{"ts", "level", "event":
"model_output", "pid", "stream", "message"}`, in a single `os.write` to fd 1, so lines of
several worker processes never interleave. A line written while a predict call serves
requests also carries `request_id` (one request) or `request_ids` (a batch): serving.batching
sets `SERVING` around each call, in whichever thread runs it. Lines written at load, start-up
or warm-up carry none. stdlib logging records made during a call get the same fields
(serving.logs.JsonLineHandler, event `model_log`).

Nothing here runs on a request that prints nothing: the per-call cost is one ContextVar set
and reset (serving.batching). Output written by native code straight to the file descriptors
(a C library's printf) bypasses `sys.stdout` and stays as it was written.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any

import orjson

PIPE_BUF = 4096  # a write this size or smaller to a pipe is never interleaved with another's
_STDOUT = 1

SERVING: ContextVar[tuple[str, ...]] = ContextVar("berth_serving_requests", default=())


def request_fields(ids: tuple[str, ...]) -> dict[str, Any]:
    """The fields naming the requests a line was written for: none, `request_id` or `request_ids`."""
    if not ids:
        return {}
    if len(ids) == 1:
        return {"request_id": ids[0]}
    return {"request_ids": list(ids)}


def timestamp(now: float) -> str:
    """serving.logs' format: `2026-12-01T00:06:03.120Z`."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now % 1 * 1000):03d}Z"


def json_lines(record: dict[str, Any], message: str) -> list[bytes]:
    """`record` with `message`, as one JSON line, or several (the message cut in parts, each marked
    `part`) when one would pass PIPE_BUF and could interleave with another process's lines."""
    line = orjson.dumps(record | {"message": message}, option=orjson.OPT_APPEND_NEWLINE, default=str)
    if len(line) <= PIPE_BUF:
        return [line]
    overhead = len(orjson.dumps(record | {"message": "", "part": 10**6}, option=orjson.OPT_APPEND_NEWLINE,
                                default=str))
    parts = _cut(message, max(64, PIPE_BUF - overhead))
    return [orjson.dumps(record | {"message": part, "part": index}, option=orjson.OPT_APPEND_NEWLINE, default=str)
            for index, part in enumerate(parts, 1)]


def _cut(text: str, room: int) -> list[str]:
    """`text` in parts each of whose JSON string form (quotes and escapes) fits `room` bytes."""
    parts, start = [], 0
    while start < len(text):
        size = room
        while size > 1 and len(orjson.dumps(text[start:start + size])) > room:
            size //= 2
        parts.append(text[start:start + size])
        start += size
    return parts


def write_lines(lines: list[bytes], fd: int = _STDOUT) -> None:
    for line in lines:
        try:  # noqa: SIM105 - try/except is cheaper than contextlib.suppress
            os.write(fd, line)
        except OSError:
            pass  # a closed stdout must never fail a request


class LineStream(io.TextIOBase):
    """A text stream whose every line becomes a `model_output` JSON line on fd 1 (see the module doc)."""

    def __init__(self, name: str, level: str, fileno: int, fd: int = _STDOUT) -> None:
        super().__init__()
        self.name = name  # "stdout" or "stderr": the line's `stream`
        self.level = level
        self._fileno = fileno  # the descriptor native code writing to "stdout" would use
        self._fd = fd
        self._pending: dict[int, str] = {}  # thread → its text since its last newline
        self.buffer = _BinaryLines(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    @property
    def line_buffering(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fileno

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        thread = threading.get_ident()
        if "\n" not in text:
            if text:
                self._pending[thread] = self._pending.get(thread, "") + text
            return len(text)
        *lines, rest = text.split("\n")
        held = self._pending.pop(thread, None)
        if held is not None:
            lines[0] = held + lines[0]
        if rest:
            self._pending[thread] = rest
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """An explicit flush shows what this thread wrote so far, as a line of its own."""
        held = self._pending.pop(threading.get_ident(), None)
        if held:
            self._emit(held)

    def drop_pending(self) -> None:
        """Forget every thread's unfinished line (a forked child: its parent still holds and writes them)."""
        self._pending.clear()

    def _emit(self, line: str) -> None:
        if line.endswith("\r"):
            line = line[:-1]
        record = {"ts": timestamp(time.time()), "level": self.level, "event": "model_output", "pid": os.getpid(),
                  "stream": self.name, **request_fields(SERVING.get())}
        write_lines(json_lines(record, line), self._fd)


class _BinaryLines:
    """`sys.stdout.buffer` for code that writes bytes: decoded as UTF-8 into the text stream."""

    def __init__(self, text: LineStream) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(bytes(data).decode("utf-8", "backslashreplace"))
        return len(data)

    def flush(self) -> None:
        self._text.flush()

    def fileno(self) -> int:
        return self._text.fileno()

    def writable(self) -> bool:
        return True


def capture() -> None:
    """From now on, what this process (and the workers it forks) prints becomes `model_output` lines."""
    sys.stdout = LineStream("stdout", "info", 1)
    sys.stderr = LineStream("stderr", "warning", 2)


def after_fork() -> None:
    """In a forked worker: drop the unfinished lines copied from the parent, which writes them itself."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, LineStream):
            stream.drop_pending()
