"""Validating a stored build: unpack it, then run the user's code in a limited subprocess.

User code never runs in this process: `python -m serving.validate` does, with a wall-clock
limit, an address-space limit and an environment stripped of the console's secrets.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from serving.bundle import BundleError, extract_archive, write_single_file_bundle

LOG_LIMIT = 200_000
REPO_ROOT = Path(__file__).resolve().parents[2]
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")


def is_archive(name: str) -> bool:
    """Whether an upload is a bundle to unpack (else a single model file); the upload check asks this too."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    log: str
    error: str = ""
    report: dict | None = None


def unpack(source: Path, bundle_dir: Path, framework: str, example_input: list | None) -> None:
    """Make `bundle_dir` from the upload, all or nothing."""
    staging = bundle_dir.with_name(bundle_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(bundle_dir, ignore_errors=True)
    try:
        if is_archive(source.name):
            extract_archive(source, staging, settings.BERTH_MAX_UNPACKED_MB * 1024 * 1024)
        else:
            staging.mkdir(parents=True)
            write_single_file_bundle(source, framework, staging, example_input)
        staging.rename(bundle_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sandbox_env() -> dict[str, str]:
    """Only what the model code needs: no database URL, no secret key, no tokens."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return env


_PR_SET_PDEATHSIG = 1


def _limit_child(memory_mb: int) -> None:
    """Runs in the child before exec: cap its memory, and make it die with the worker that started it."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_validator(bundle_dir: Path, timeout_s: int, memory_mb: int) -> ValidationResult:
    proc = subprocess.Popen(  # noqa: S603 - argv is our own validator module; the bundle path is ours
        [sys.executable, "-m", "serving.validate", str(bundle_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox_env(), cwd=bundle_dir,
        preexec_fn=lambda: _limit_child(memory_mb), start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return ValidationResult(False, _log(out, err), f"The model did not finish within {timeout_s} s and was stopped "
                                "(BERTH_BUILD_TIMEOUT_S). Check build() and predict() for endless loops or slow work.")
    return _result(proc.returncode, out, err, memory_mb)


def _result(code: int, out: bytes, err: bytes, memory_mb: int) -> ValidationResult:
    log = _log(out, err)
    report = _last_json_line(out)
    if report is not None and report.get("ok") and code == 0:
        return ValidationResult(True, log, report=report)
    if report is not None and report.get("error"):
        error = str(report["error"])
        if "memory" in error.lower():
            error += f" (limit: {memory_mb} MB)"
        return ValidationResult(False, log, error)
    if code < 0:
        name = signal.Signals(-code).name
        return ValidationResult(False, log, f"The validation process was killed by {name}; the model may have "
                                f"exceeded the {memory_mb} MB memory limit (BERTH_BUILD_MEMORY_MB).")
    return ValidationResult(False, log, f"The validation process exited with code {code}; see the build log.")


def _last_json_line(out: bytes) -> dict | None:
    for line in reversed(out.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _log(out: bytes, err: bytes) -> str:
    text = (err.decode(errors="replace") + out.decode(errors="replace")).strip()
    return text if len(text) <= LOG_LIMIT else "…(truncated)\n" + text[-LOG_LIMIT:]


def validate_stored_build(source: Path, bundle_dir: Path, framework: str, example_input: list | None) -> ValidationResult:
    try:
        unpack(source, bundle_dir, framework, example_input)
    except BundleError as exc:
        return ValidationResult(False, "", exc.message)
    return run_validator(bundle_dir, settings.BERTH_BUILD_TIMEOUT_S, settings.BERTH_BUILD_MEMORY_MB)
