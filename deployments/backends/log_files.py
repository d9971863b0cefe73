"""A local deployment's log files, read three ways: newest first (paging back), forward from a
position (what is new since), and followed as they grow (the live tail).

Each source (a replica's name, or "gateway") writes `logs/<source>.log`; supervisord rotates it to
`<source>.log.1`, `.2`, … (1 the newest) at BERTH_LOG_MAX_BYTES and keeps BERTH_LOG_BACKUPS of them.
A renamed file keeps its inode, so a position `(inode, byte offset)` names the same line before
and after a rotation; that is what paging cursors hold.

No Django here: the local backend passes the folder in.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BLOCK = 64 * 1024
_ROTATED = re.compile(r"^(?P<source>.+)\.log(?:\.(?P<n>\d{1,4}))?$")

# Where a source's log is, between two lines; each runtime says what the two numbers mean
# (deployments/backends/base.py). Here: (inode of the file, byte offset in it).
Position = tuple[int, int]


@dataclass(frozen=True)
class RawLine:
    """One whole line of a source's log, where it is, and when it was read (live only).

    `start` is (file_id, offset), `after` is (file_id, end): here the file's inode and the byte
    offsets of the line's first byte and of the byte after its newline; another runtime fills them
    with its own Position (base.py)."""

    source: str
    text: str
    file_id: int
    offset: int        # of its first byte
    end: int           # the byte after its newline
    read_at: float | None = None
    file_mtime: float = 0.0
    stamped: float | None = None  # when the runtime itself stamped the line (the kubelet does), epoch seconds

    @property
    def start(self) -> Position:
        return (self.file_id, self.offset)

    @property
    def after(self) -> Position:
        return (self.file_id, self.end)


def sources(log_dir: Path) -> list[str]:
    """Every source with a log file, current or rotated."""
    if not log_dir.is_dir():
        return []
    found = {m["source"] for p in log_dir.iterdir() if (m := _ROTATED.match(p.name))}
    return sorted(found)


def source_files(log_dir: Path, source: str) -> list[Path]:
    """A source's files, newest first: `<source>.log`, then `.log.1`, `.log.2`, …"""
    if not log_dir.is_dir():
        return []
    numbered = []
    for path in log_dir.glob(f"{glob_escape(source)}.log*"):
        match = _ROTATED.match(path.name)
        if match and match["source"] == source:
            numbered.append((int(match["n"] or 0), path))
    return [path for _, path in sorted(numbered)]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def end_position(log_dir: Path, source: str) -> Position | None:
    """Just after the last whole line of the source's current file (None: no file)."""
    files = source_files(log_dir, source)
    if not files:
        return None
    try:
        with files[0].open("rb") as handle:
            return (os.fstat(handle.fileno()).st_ino, _whole_end(handle))
    except FileNotFoundError:
        return None


def backward(log_dir: Path, source: str, before: Position | None = None) -> Iterator[RawLine]:
    """The source's whole lines, newest first, starting just before `before` (None: from the end)."""
    started = before is None
    for path in source_files(log_dir, source):
        try:
            handle = path.open("rb")
        except FileNotFoundError:  # rotated or pruned while we listed
            continue
        with handle:
            stat = os.fstat(handle.fileno())
            if not started:
                if stat.st_ino != before[0]:  # type: ignore[index]
                    continue
                started, end = True, min(before[1], stat.st_size)  # type: ignore[index]
            else:
                end = _whole_end(handle)
            for offset, data in _lines_backward(handle, end):
                yield RawLine(source, data.decode(errors="replace"), stat.st_ino, offset, offset + len(data) + 1,
                              file_mtime=stat.st_mtime)


def forward(log_dir: Path, source: str, after: Position | None = None) -> Iterator[RawLine]:
    """The source's whole lines, oldest first, starting at `after` (None: from its oldest file's start)."""
    files = list(reversed(source_files(log_dir, source)))
    handles = []
    for path in files:
        try:
            handles.append(path.open("rb"))
        except FileNotFoundError:
            continue
    try:
        inodes = [os.fstat(h.fileno()).st_ino for h in handles]
        start_at, offset = 0, 0
        if after is not None and after[0] in inodes:
            start_at, offset = inodes.index(after[0]), after[1]
        for index in range(start_at, len(handles)):
            handle, inode = handles[index], inodes[index]
            mtime = os.fstat(handle.fileno()).st_mtime
            for line_offset, data in _lines_forward(handle, offset if index == start_at else 0):
                yield RawLine(source, data.decode(errors="replace"), inode, line_offset,
                              line_offset + len(data) + 1, file_mtime=mtime)
    finally:
        for handle in handles:
            handle.close()


def _whole_end(handle: IO[bytes]) -> int:
    """The offset just after the file's last newline: a line still being written is not read yet."""
    size = os.fstat(handle.fileno()).st_size
    position = size
    while position > 0:
        start = max(0, position - 4096)
        handle.seek(start)
        chunk = handle.read(position - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


_TS = re.compile(rb'"ts": ?"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z?"')
REWIND_MAX_LINES = 1000


def _rewound_end(handle: IO[bytes], cutoff: float) -> int:
    """The file's end, moved back over the last lines stamped at or after `cutoff` (epoch seconds)."""
    end = position = _whole_end(handle)
    for count, (offset, data) in enumerate(_lines_backward(handle, end)):
        match = _TS.search(data[:200])
        if count >= REWIND_MAX_LINES or (match and _epoch(match[1]) < cutoff):
            break
        position = offset
    return position


def _epoch(stamp: bytes) -> float:
    """`2026-12-01T00:06:03.120` (UTC, as serving.logs writes it) in epoch seconds; 0 if it does not parse."""
    try:
        whole = calendar.timegm(time.strptime(stamp[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
        return whole + (float(stamp[19:]) if stamp[19:] else 0.0)
    except ValueError:
        return 0.0


def _lines_backward(handle: IO[bytes], end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes without newline) of each line in [0, end), last first; `end` follows a newline."""
    position, carry = end, b""
    while position > 0:
        start = max(0, position - BLOCK)
        handle.seek(start)
        data = handle.read(position - start) + carry
        parts = data.split(b"\n")[:-1]  # data ends with a newline: the last part is empty
        first = 0 if start == 0 else 1
        carry = b"" if start == 0 else parts[0] + b"\n"  # may begin before this block: read with the next
        offset = start + len(data)
        for part in reversed(parts[first:]):
            offset -= len(part) + 1
            yield offset, part
        position = start


def _lines_forward(handle: IO[bytes], offset: int) -> Iterator[tuple[int, bytes]]:
    handle.seek(offset)
    carry = b""
    while True:
        chunk = handle.read(BLOCK)
        if not chunk:
            return
        data = carry + chunk
        *whole, carry = data.split(b"\n")
        for part in whole:
            yield offset, part
            offset += len(part) + 1


@dataclass
class _Followed:
    handle: IO[bytes]
    inode: int
    offset: int
    pending: bytes = b""


@dataclass
class Follower:
    """Follows every `*.log` in a folder: `poll()` returns the whole lines written since the last poll.

    Files there when it starts are followed from their end, less the lines stamped (JSON "ts") within
    the last `rewind_s` seconds: a viewer that read the history just before this reader started gets
    no gap (lines sent twice carry the same key). Files that appear later are read from their start.
    A rotated file (its name now another inode) is read to its end before the new one is opened; a
    truncated one is read again from its start. Not thread-safe: one poller.
    """

    log_dir: Path
    rewind_s: float = 0.0
    files: dict[str, _Followed] = field(default_factory=dict)
    started: bool = False

    def poll(self) -> list[RawLine]:
        lines: list[RawLine] = []
        current = {}
        if self.log_dir.is_dir():
            for path in self.log_dir.glob("*.log"):
                try:
                    current[path.stem] = (path, path.stat().st_ino)
                except FileNotFoundError:
                    continue
        now = time.time()
        for source, (path, inode) in sorted(current.items()):
            followed = self.files.get(source)
            if followed is not None and followed.inode != inode:  # rotated: finish the old file first
                lines += self._read(source, followed, now)
                followed.handle.close()
                followed = None
            if followed is None:
                followed = self._open(path, from_end=not self.started)
                if followed is None:
                    continue
                self.files[source] = followed
            lines += self._read(source, followed, now)
        for source in set(self.files) - set(current):  # its file went (deployment deleted, or pruned)
            self.files.pop(source).handle.close()
        self.started = True
        return lines

    def close(self) -> None:
        for followed in self.files.values():
            followed.handle.close()
        self.files.clear()

    def _open(self, path: Path, from_end: bool) -> _Followed | None:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        inode = os.fstat(handle.fileno()).st_ino
        return _Followed(handle, inode, _rewound_end(handle, time.time() - self.rewind_s) if from_end else 0)

    def _read(self, source: str, followed: _Followed, now: float) -> list[RawLine]:
        size = os.fstat(followed.handle.fileno()).st_size
        if size < followed.offset + len(followed.pending):  # truncated: start again
            followed.offset, followed.pending = 0, b""
        followed.handle.seek(followed.offset + len(followed.pending))
        data = followed.pending + followed.handle.read()
        *whole, followed.pending = data.split(b"\n")
        lines = []
        for part in whole:
            end = followed.offset + len(part) + 1
            lines.append(RawLine(source, part.decode(errors="replace"), followed.inode, followed.offset, end,
                                 read_at=now))
            followed.offset = end
        return lines


def prune(log_dir: Path, older_than_s: float, keep: set[str], now: float | None = None) -> list[Path]:
    """Delete rotated files last written more than `older_than_s` ago, and the current files of
    sources not in `keep` (replicas that no longer run) as old; return what was deleted.

    A running source's current file is never deleted: its process still writes to it."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not log_dir.is_dir():
        return removed
    for path in log_dir.iterdir():
        match = _ROTATED.match(path.name)
        if match is None or (match["n"] is None and match["source"] in keep):
            continue
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed
