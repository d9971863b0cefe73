"""Does the sandbox work here? Asked before any model code runs; a failure refuses to run it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from deployments.sandbox.command import Limits, Sandbox, SandboxUnavailable, inside_env, sandbox_argv

PROBE_LIMITS = Limits(processes=16, open_files=256, memory_mb=1024, file_mb=1, scratch_mb=1, cpu_s=30)
PROBE_TIMEOUT_S = 60
_works = threading.Event()


def ensure_sandbox() -> None:
    """Raise SandboxUnavailable, saying what to fix, unless a sandboxed Python starts and is confined."""
    if _works.is_set():
        return
    with tempfile.TemporaryDirectory(prefix="berth-probe-") as bundle:
        box = Sandbox([sys.executable, "-c", "import os; print(os.getuid())"], "probe", PROBE_LIMITS, Path(bundle))
        try:
            done = subprocess.run(sandbox_argv(box), env=inside_env({}), capture_output=True,  # noqa: S603 - our argv
                                  timeout=PROBE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable(f"the sandbox test did not finish in {PROBE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        why = (done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise SandboxUnavailable(f"bubblewrap can't start a sandbox here ({why}). It needs user namespaces "
                                 "(sysctl kernel.unprivileged_userns_clone=1) or a console running as root.")
    if done.stdout.strip() == b"0":
        raise SandboxUnavailable("the sandbox ran model code as root; refusing to run builds")
    _works.set()
