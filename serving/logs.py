"""One JSON object per line on stdout, one line per event (the console's Logs tab reads it).

Lines are written with a single os.write, so lines from several worker processes never
interleave mid-line (each is far below PIPE_BUF) and nothing waits in a buffer.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import orjson

from serving.model_output import SERVING, request_fields

_STDOUT = 1


def _timestamp(now: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{seconds}.{int(now % 1 * 1000):03d}Z"


def log_event(event: str, level: str = "info", **fields: Any) -> None:
    """Write one event line: {"ts", "level", "event", "pid", **fields}."""
    record = {"ts": _timestamp(time.time()), "level": level, "event": event, "pid": os.getpid()}
    record.update(fields)
    line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE, default=str)
    try:  # noqa: SIM105 - per-request path; try/except is cheaper than contextlib.suppress
        os.write(_STDOUT, line)
    except OSError:
        pass  # a closed stdout must never fail a request


class JsonLineHandler(logging.Handler):
    """Route stdlib logging into the same JSON lines: `log` (uvicorn's own errors, anything logged
    outside a request), or `model_log` with the request ids when logged while a predict call serves
    requests (serving.model_output.SERVING: the model's own logging)."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            fields["error"] = f"{type(exc).__name__}: {exc}"
        serving = SERVING.get()
        if serving:
            log_event("model_log", level=record.levelname.lower(), **fields, **request_fields(serving))
        else:
            log_event("log", level=record.levelname.lower(), **fields)


def configure_stdlib_logging(level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    root.handlers[:] = [JsonLineHandler()]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
