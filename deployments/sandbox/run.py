"""Run a sandbox to its end (build validation): capped output, a wall-clock limit, nothing left behind.

Output is read as it comes and only its last `log_limit` bytes are kept, so a build that
prints gigabytes costs no memory. Files the code hands back (its `.berth` artifacts) come
through one pipe, at most `artifacts_mb`, into `artifacts_to`. When the sandbox's first process
ends, or the wall-clock limit kills it, the kernel kills every process in its PID namespace,
so the pipes close and the worker is free at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deployments.sandbox.command import MB, Sandbox, die_with_parent, sandbox_argv

ARTIFACTS_FD_ENV = "BERTH_ARTIFACTS_FD"
READ_CHUNK = 64 * 1024
DRAIN_S = 10


@dataclass(frozen=True)
class Finished:
    code: int               # the code's exit code; 128+N when signal N ended it (bwrap's convention)
    stdout: bytes
    stderr: bytes
    timed_out: bool
    artifacts_overflowed: bool

    @property
    def signal(self) -> signal.Signals | None:
        if self.code > 128 and self.code - 128 in signal.valid_signals():
            return signal.Signals(self.code - 128)
        return None


class _Tail(threading.Thread):
    """Reads a pipe to its end, keeping the last `limit` bytes."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.pipe, self.limit, self.data = pipe, limit, bytearray()

    def run(self) -> None:
        while chunk := os.read(self.pipe.fileno(), READ_CHUNK):
            self.data += chunk
            if len(self.data) > 2 * self.limit:
                del self.data[:-self.limit]
        del self.data[:-self.limit]


class _Sink(threading.Thread):
    """Copies a pipe into a file, up to `limit` bytes; past that it reads on and throws away."""

    def __init__(self, fd: int, path: Path, limit: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.path, self.limit, self.overflowed = fd, path, limit, False

    def run(self) -> None:
        written = 0
        with os.fdopen(self.fd, "rb") as pipe, self.path.open("wb") as out:
            while chunk := pipe.read1(READ_CHUNK):
                written += len(chunk)
                if written > self.limit:
                    self.overflowed = True
                else:
                    out.write(chunk)


def run(box: Sandbox, env: dict[str, str], timeout_s: float, log_limit: int, artifacts_to: Path) -> Finished:
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(  # noqa: S603 - our own bwrap argv, no shell
        sandbox_argv(box), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**env, ARTIFACTS_FD_ENV: str(write_end)}, pass_fds=(write_end,), start_new_session=True,
        preexec_fn=die_with_parent)
    os.close(write_end)
    assert proc.stdout is not None  # noqa: S101 - PIPE above
    assert proc.stderr is not None  # noqa: S101 - PIPE above
    out, err = _Tail(proc.stdout, log_limit), _Tail(proc.stderr, log_limit)
    sink = _Sink(read_end, artifacts_to, (box.artifacts_mb or 0) * MB)
    for reader in (out, err, sink):
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()  # bwrap dies; --die-with-parent takes the sandbox's first process, the kernel the rest
        proc.wait()
    for reader in (out, err, sink):
        reader.join(DRAIN_S)
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()
    return Finished(proc.returncode, bytes(out.data), bytes(err.data), timed_out, sink.overflowed)
