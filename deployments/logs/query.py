"""Which log lines a viewer wants, and where a page of them starts: one parser for the Logs tab,
its socket, the download, the API and so the CLI.

Filters: `variation`, `replica` (a replica's name or "gateway"), `level` (that level and worse),
`q` (text anywhere in the readable line, any case), `request_id`, and a time range `since`/`until`.
Cursors hold each source's position, two integers its runtime defines (deployments/backends/base.py:
a file's inode and byte offset locally, a line's kubelet timestamp and tag on Kubernetes), encoded as
a short opaque string, so a page continues exactly where the last one stopped, across rotations and
restarts.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlencode

from deployments.backends.log_files import Position
from deployments.logs.lines import LEVELS, LogLine, timestamp

NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,62}$"
REQUEST_ID_PATTERN = r"^[\x21-\x7e]{1,200}$"  # as the gateway takes X-Request-Id (visible ASCII here)
_NAME = re.compile(NAME_PATTERN)
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
MAX_TEXT_FILTER = 200


class LogQueryError(ValueError):
    """A filter or cursor the caller must fix; `errors` maps each parameter to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class LogQuery:
    variation: str = ""
    replica: str = ""
    level: str = ""
    text: str = ""
    request_id: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LogQuery:
        """From query parameters (`q` for the text); LogQueryError says which ones are wrong and why."""
        values = {name: (params.get(name) or "").strip() for name in
                  ("variation", "replica", "level", "q", "request_id", "since", "until")}
        errors: dict[str, str] = {}
        for name in ("variation", "replica"):
            if values[name] and not _NAME.match(values[name]):
                errors[name] = "use a name as the deployment page shows it (lowercase letters, digits, '-', '.')"
        if values["level"] and values["level"] not in LEVELS:
            errors["level"] = f"one of {', '.join(LEVELS)}"
        if len(values["q"]) > MAX_TEXT_FILTER:
            errors["q"] = f"at most {MAX_TEXT_FILTER} characters"
        if values["request_id"] and not _REQUEST_ID.match(values["request_id"]):
            errors["request_id"] = "a request id is 1 to 200 visible ASCII characters, without spaces"
        times = {}
        for name in ("since", "until"):
            times[name] = _time(values[name]) if values[name] else None
            if values[name] and times[name] is None:
                errors[name] = "an ISO 8601 time, e.g. 2026-12-01T12:00:00Z (UTC when no zone is given)"
        if times["since"] and times["until"] and times["since"] > times["until"]:
            errors["until"] = "must not be before since"
        if errors:
            raise LogQueryError(errors)
        return cls(values["variation"], values["replica"], values["level"], values["q"], values["request_id"],
                   times["since"], times["until"])

    def wants_source(self, source: str, variation: str) -> bool:
        """Whether any line of this source can match (so whole files are skipped)."""
        return self.replica in ("", source) and self.variation in ("", variation)

    def matches(self, line: LogLine) -> bool:
        if not self.wants_source(line.source, line.variation):
            return False
        if self.level and LEVELS.index(line.level) < LEVELS.index(self.level):
            return False
        if self.request_id and self.request_id not in line.request_ids:
            return False
        if self.since and line.time < self.since:
            return False
        if self.until and line.time > self.until:
            return False
        return not self.text or self.text.lower() in line.text.lower()

    def without_times(self) -> LogQuery:
        return replace(self, since=None, until=None)

    @property
    def is_filtered(self) -> bool:
        return any((self.variation, self.replica, self.level, self.text, self.request_id))

    def params(self) -> dict[str, str]:
        """As query parameters, leaving out what is not set."""
        pairs = {"variation": self.variation, "replica": self.replica, "level": self.level, "q": self.text,
                 "request_id": self.request_id, "since": _iso(self.since), "until": _iso(self.until)}
        return {name: value for name, value in pairs.items() if value}

    def query_string(self) -> str:
        return urlencode(self.params())


def _time(text: str) -> datetime | None:
    parsed = timestamp(text)
    if parsed is None and text.isdigit():  # unix seconds, for scripts
        try:
            parsed = datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return parsed


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def encode_cursor(positions: Mapping[str, Position]) -> str:
    """Each source's position, as a short URL-safe string."""
    data = json.dumps({source: list(position) for source, position in sorted(positions.items())},
                      separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_cursor(text: str, name: str = "before") -> dict[str, Position]:
    """The inverse of encode_cursor; LogQueryError for anything it did not make."""
    problem = LogQueryError({name: "not a cursor this console gave out; use the 'older'/'newer' value of a page"})
    if len(text) > 8000:
        raise problem
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise problem from None
    if not isinstance(data, dict):
        raise problem
    positions = {}
    for source, value in data.items():
        if not (isinstance(source, str) and _NAME.match(source) and isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in value)):
            raise problem
        positions[source] = (value[0], value[1])
    return positions
