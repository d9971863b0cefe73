"""A log line with its structure: parsed from what a replica or gateway wrote, shown as readable text.

Model-server and gateway lines are JSON objects (serving/logs.py: ts, level, event, pid, request_id,
…); what model code prints may be plain text. Both parse, never fail: a line that is not a JSON
object is a plain message at level "info" ("error" when it looks like a traceback or an error),
timed when it was read (live) or like the timed line after it in the file (history), or by the
runtime's own stamp when it has one (the kubelet's timestamp of each line on Kubernetes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deployments.backends.log_files import RawLine
from deployments.backends.replica_id import ReplicaId

GATEWAY = "gateway"
LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_NAMES = {"warn": "warning", "err": "error", "fatal": "critical", "exception": "error", "trace": "debug"}
_ERROR_TEXT = re.compile(r"^(Traceback \(most recent call last\)|\s+File \"|[\w.]*(Error|Exception)\b|ERROR\b|CRITICAL\b)")
_WARNING_TEXT = re.compile(r"^(WARNING|WARN)\b|^[\w.]*Warning\b")
_OWN_KEYS = {"ts", "level", "event", "message", "request_id", "request_ids"}
MAX_TEXT = 16 * 1024  # characters of one line kept; a model printing a whole data frame stays readable


@dataclass(frozen=True)
class LogLine:
    key: str                  # "<source>:<file id>:<offset>": the same line read live or from history
    time: datetime
    level: str
    event: str
    source: str               # a replica's name, or "gateway"
    variation: str            # "" for the gateway
    request_ids: tuple[str, ...]
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    structured: bool = True   # False: a plain-text line

    @property
    def request_id(self) -> str:
        return self.request_ids[0] if self.request_ids else ""

    @property
    def summary(self) -> str:
        """What happened, in a few words: `POST /v1/predict 200 3.1 ms` for a request line."""
        fields = self.fields
        if self.event == "request" and "status" in fields:
            latency = fields.get("latency_ms")
            took = f" {latency:g} ms" if isinstance(latency, int | float) else ""
            return f"{fields.get('method', '')} {fields.get('path', '')} {fields['status']}{took}".strip()
        parts = [self.message] if self.message else []
        parts += [f"{name}={_short(value)}" for name, value in fields.items() if name != "pid"]
        return " ".join(parts)

    @property
    def text(self) -> str:
        """`12:00:01.234 INFO  default-3f9a1c2e-0  request  POST /v1/predict 200 3.1 ms  req=ab12cd34…`"""
        stamp = self.time.strftime("%H:%M:%S.") + f"{self.time.microsecond // 1000:03d}"
        parts = [stamp, f"{self.level.upper():<5}", self.source]
        if self.event:
            parts.append(self.event)
        parts.append(self.summary)
        if self.request_ids:
            parts.append(" ".join(f"req={rid}" for rid in self.request_ids[:3]))
        return "  ".join(part for part in parts if part)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "time": self.time.isoformat().replace("+00:00", "Z"), "level": self.level,
                "event": self.event, "replica": self.source, "variation": self.variation,
                "request_id": self.request_id, "request_ids": list(self.request_ids), "message": self.message,
                "details": self.fields, "text": self.text, "structured": self.structured}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogLine:
        """The inverse of to_json (how a line travels to the sockets through the channel layer)."""
        return cls(data["key"], timestamp(data["time"]) or datetime.now(UTC), data["level"], data["event"],
                   data["replica"], data["variation"], tuple(data["request_ids"]), data["message"],
                   data["details"], data.get("structured", True))


def variation_of(source: str, deployment: int = 0) -> str:
    """The variation a replica's log belongs to ("" for the gateway or a name that is not a replica's)."""
    try:
        return ReplicaId.parse(deployment, source).variation
    except ValueError:
        return ""


def parse(raw: RawLine, fallback: datetime) -> LogLine:
    """One line as written; `fallback` times a line that carries no time of its own, unless the runtime
    stamped it (the kubelet does: then its stamp)."""
    if raw.stamped is not None:
        fallback = datetime.fromtimestamp(raw.stamped, UTC)
    text = raw.text[:MAX_TEXT].rstrip("\r")
    key = f"{raw.source}:{raw.file_id}:{raw.offset}"
    record = _json_object(text)
    if record is None:
        return LogLine(key, fallback, _plain_level(text), "", raw.source, variation_of(raw.source), (), text,
                       structured=False)
    fields = {name: value for name, value in record.items() if name not in _OWN_KEYS}
    return LogLine(key, timestamp(record.get("ts")) or fallback, _level(record.get("level")),
                   str(record.get("event") or ""), raw.source, variation_of(raw.source), _request_ids(record),
                   str(record.get("message") or ""), fields)


def timestamp(value: object) -> datetime | None:
    """serving.logs' `2026-12-01T00:06:03.120Z` (any ISO 8601 time), as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _level(value: object) -> str:
    name = str(value or "info").lower()
    name = _LEVEL_NAMES.get(name, name)
    return name if name in LEVELS else "info"


def _plain_level(text: str) -> str:
    if _ERROR_TEXT.match(text):
        return "error"
    if _WARNING_TEXT.match(text):
        return "warning"
    return "info"


def _request_ids(record: dict[str, Any]) -> tuple[str, ...]:
    """`request_id` and `request_ids` (a batch served several), in order, each once."""
    found: list[str] = []
    one = record.get("request_id")
    many = record.get("request_ids")
    for value in [one, *(many if isinstance(many, list) else [])]:
        if isinstance(value, str) and value and value not in found:
            found.append(value)
    return tuple(found)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:199] + "…"
