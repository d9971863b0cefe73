"""Validating a stored build: unpack it, then run the user's code in the sandbox.

User code never runs in this process: `python -m serving.validate` does, in the sandbox of
deployments/sandbox (no network, no console files, an unprivileged user, limits it can't
escape), with an environment that holds nothing of the console's.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from deployments.sandbox.check import ensure_sandbox
from deployments.sandbox.command import (
    ARTIFACTS,
    INSIDE_BUNDLE,
    Limits,
    Sandbox,
    SandboxUnavailable,
    inside_env,
    make_readable,
)
from deployments.sandbox.limit_hints import limit_hint
from deployments.sandbox.run import Finished, run
from serving.bundle import BundleError, extract_archive, write_single_file_bundle

LOG_LIMIT = 200_000
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


def run_validator(bundle_dir: Path, timeout_s: int, memory_mb: int) -> ValidationResult:
    """Run `python -m serving.validate` on the bundle in the sandbox; keep what it hands back."""
    try:
        ensure_sandbox()
    except SandboxUnavailable as exc:
        return ValidationResult(False, "", f"The build was not validated: model code can't be run safely on this "
                                f"machine, so Berth runs none. {exc}")
    box = Sandbox([sys.executable, "-m", "serving.validate", INSIDE_BUNDLE], f"validate-{bundle_dir.name}",
                  validation_limits(timeout_s, memory_mb), bundle_dir, artifacts_mb=settings.BERTH_MAX_UNPACKED_MB)
    artifacts = bundle_dir / ARTIFACTS
    _empty_dir(artifacts)
    make_readable(bundle_dir)
    handed_back = bundle_dir.with_name(bundle_dir.name + ".artifacts.tar")
    try:
        done = run(box, inside_env({}), timeout_s, LOG_LIMIT, handed_back)
        result = _result(done, box.limits, timeout_s)
        if result.ok:
            result = _keep_artifacts(result, handed_back, artifacts)
    finally:
        handed_back.unlink(missing_ok=True)
    return result


def validation_limits(timeout_s: int, memory_mb: int) -> Limits:
    return Limits(processes=settings.BERTH_SANDBOX_MAX_PROCESSES, open_files=settings.BERTH_SANDBOX_MAX_OPEN_FILES,
                  memory_mb=memory_mb, file_mb=max(settings.BERTH_SANDBOX_SCRATCH_MB, settings.BERTH_MAX_UNPACKED_MB),
                  scratch_mb=settings.BERTH_SANDBOX_SCRATCH_MB, cpu_s=timeout_s)


def _empty_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()


def _keep_artifacts(result: ValidationResult, tar: Path, artifacts: Path) -> ValidationResult:
    """Unpack the `.berth` files the validator handed back, with the same checks as an upload."""
    try:
        extract_archive(tar, artifacts, settings.BERTH_MAX_UNPACKED_MB * 1024 * 1024)
    except (BundleError, ValueError) as exc:
        message = exc.message if isinstance(exc, BundleError) else str(exc)
        return ValidationResult(False, result.log, f"The files build() produced could not be kept: {message}")
    make_readable(artifacts)
    return result


def _result(done: Finished, limits: Limits, timeout_s: int) -> ValidationResult:
    log = _log(done.stdout, done.stderr)
    if done.timed_out:
        return ValidationResult(False, log, f"The model did not finish within {timeout_s} s (wall-clock limit, "
                                "BERTH_BUILD_TIMEOUT_S) and was stopped with every process it started. Check "
                                "build() and predict() for endless loops or slow work.")
    if done.artifacts_overflowed:
        return ValidationResult(False, log, f"build() produced more than {settings.BERTH_MAX_UNPACKED_MB} MB of "
                                "files (BERTH_MAX_UNPACKED_MB).")
    report = _last_json_line(done.stdout)
    if report is not None and report.get("ok") and done.code == 0:
        return ValidationResult(True, log, report=report)
    if report is not None and report.get("error"):
        return ValidationResult(False, log, str(report["error"]) + limit_hint(str(report["error"]), limits))
    return ValidationResult(False, log, _ended_by(done, limits))


def _ended_by(done: Finished, limits: Limits) -> str:
    sig = done.signal
    if sig == signal.SIGXCPU:
        return (f"The validation process used more than {limits.cpu_s} s of CPU time (CPU limit, "
                "BERTH_BUILD_TIMEOUT_S) and was stopped.")
    if sig is not None:
        return (f"The validation process was killed by {sig.name}; the model may have exceeded the "
                f"{limits.memory_mb} MB memory limit (BERTH_BUILD_MEMORY_MB).")
    return f"The validation process exited with code {done.code} before reporting; see the build log."


def _last_json_line(out: bytes) -> dict | None:
    for line in reversed(out.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _without_report(out: str) -> str:
    lines = out.splitlines(keepends=True)
    for n in range(len(lines) - 1, -1, -1):
        if lines[n].strip():
            return "".join(lines[:n] + lines[n + 1:]) if _is_report(lines[n]) else out
    return out


def _is_report(line: str) -> bool:
    try:
        return isinstance(report := json.loads(line), dict) and "ok" in report
    except ValueError:
        return False


def _log(out: bytes, err: bytes) -> str:
    """What validation printed for people: its stderr, and any stdout but the report line (Berth's, not theirs)."""
    text = (err.decode(errors="replace") + _without_report(out.decode(errors="replace"))).strip()
    return text if len(text) <= LOG_LIMIT else "…(truncated)\n" + text[-LOG_LIMIT:]


def validate_stored_build(source: Path, bundle_dir: Path, framework: str, example_input: list | None) -> ValidationResult:
    try:
        unpack(source, bundle_dir, framework, example_input)
    except BundleError as exc:
        return ValidationResult(False, "", exc.message)
    return run_validator(bundle_dir, settings.BERTH_BUILD_TIMEOUT_S, settings.BERTH_BUILD_MEMORY_MB)
