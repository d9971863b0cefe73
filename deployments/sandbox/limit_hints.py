"""Which limit an error hit, in words a data scientist can act on."""

from __future__ import annotations

from deployments.sandbox.command import Limits

# (what the error says, which limit, the setting that raises it)
_SIGNS = (
    (("MemoryError", "Cannot allocate memory", "memory limit"), "limit: {memory_mb} MB of memory per process", ""),
    (("Resource temporarily unavailable", "BlockingIOError", "can't start new thread"),
     "the sandbox allows {processes} processes and threads", "BERTH_SANDBOX_MAX_PROCESSES"),
    (("Too many open files",), "the sandbox allows {open_files} open files per process", "BERTH_SANDBOX_MAX_OPEN_FILES"),
    (("No space left on device",), "the scratch space (/tmp) holds {scratch_mb} MB", "BERTH_SANDBOX_SCRATCH_MB"),
    (("File too large",), "a file may hold at most {file_mb} MB", "BERTH_SANDBOX_SCRATCH_MB"),
    (("Read-only file system",), "the bundle is read-only; write to $TMPDIR (/tmp) or return the model from "
     "build()", ""),
    (("Network is unreachable", "Temporary failure in name resolution", "Name or service not known",
      "Connection refused"), "model code has no network while it is validated", ""),
)


def limit_hint(error: str, limits: Limits) -> str:
    """` (…which limit, and the setting)` for an error that one of the sandbox's limits caused, else ""."""
    for signs, text, setting in _SIGNS:
        if any(sign in error for sign in signs):
            words = text.format(processes=limits.processes, open_files=limits.open_files,
                                scratch_mb=limits.scratch_mb, file_mb=limits.file_mb,
                                memory_mb=limits.memory_mb)
            return f" ({words}{f'; an admin can raise {setting}' if setting else ''})"
    return ""
