"""Run a long-lived sandbox (a replica) under supervisord as if it were the process itself.

supervisord signals this process; it passes SIGTERM/SIGINT/SIGHUP/SIGQUIT on to the model
server inside (so it drains), and when the sandbox ends it ends the same way: the same exit
code, or killed by the same signal. If this process is killed outright, bwrap dies with it
and the kernel takes down everything in the sandbox (--die-with-parent).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

from deployments.sandbox.command import Sandbox, die_with_parent, sandbox_argv

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def supervise(box: Sandbox, env: dict[str, str]) -> int:
    """Start the sandbox, forward stop signals into it, and return (or die) as it ended."""
    read_info, write_info = os.pipe()
    argv = sandbox_argv(box)
    argv[1:1] = ["--info-fd", str(write_info)]
    proc = subprocess.Popen(  # noqa: S603 - our own bwrap argv, no shell
        argv, env=env, pass_fds=(write_info,), preexec_fn=die_with_parent)
    os.close(write_info)
    init_pid = _sandbox_init(read_info)
    for signum in FORWARDED:
        signal.signal(signum, lambda sig, _frame: _forward(init_pid, sig))
    code = proc.wait()
    if code > 128 and code - 128 in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, *FORWARDED):
        signal.signal(code - 128, signal.SIG_DFL)
        os.kill(os.getpid(), code - 128)
    return code


def _sandbox_init(read_info: int) -> int | None:
    """bwrap's init in the sandbox (pid 1 there), from what bwrap writes on --info-fd."""
    with os.fdopen(read_info, "rb") as info:
        text = b""
        while chunk := info.read(4096):
            text += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(text)["child-pid"])
    return None


def _forward(init_pid: int | None, signum: int) -> None:
    """Signal the processes bwrap's init started (the model server); the init itself ignores signals."""
    for pid in _children(init_pid) if init_pid else ():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found
