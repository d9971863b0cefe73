"""Validate a build: `python -m serving.validate BUNDLE_DIR`.

Runs in the sandbox the build task starts (deployments/sandbox), with the bundle read-only
and `.berth` a writable tmpfs whose files go back to the worker as a tar on the fd named by
BERTH_ARTIFACTS_FD. It reads the bundle, checks requirements, runs `build()` (python
framework) and pickles the result, loads the runtime, predicts the example input twice
(warm-up, then timed), and infers the schemas. The report goes to
`BUNDLE_DIR/.berth/report.json` and, as one JSON object, to the last line of stdout:

    {"ok": true, "framework", "requirements", "example_input", "input_schema",
     "output_schema", "example_output", "timings": {"build_s", "load_s",
     "first_predict_s", "predict_s"}}
    {"ok": false, "error": "build failed: ZeroDivisionError: division by zero (model.py:12 in build)"}

Everything else — progress, the user's prints, tracebacks — goes to stderr (the build log).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import tarfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from serving.bundle import BundleSpec, check_requirements, read_bundle
from serving.errors import PredictionError, ServingError
from serving.loader import load_runtime
from serving.runtimes.base import Runtime
from serving.schema import coerce_frame, infer_input_schema, infer_output_schema

ARTIFACTS = ".berth"
REPORT = Path(ARTIFACTS) / "report.json"
ARTIFACTS_FD_ENV = "BERTH_ARTIFACTS_FD"  # the pipe deployments.sandbox.run reads
EXAMPLE_OUTPUT_ROWS = 20


class StepFailed(Exception):
    """A validation step failed; the message is what the data scientist reads."""


def validate(bundle_dir: Path) -> dict[str, Any]:
    timings: dict[str, float | None] = dict.fromkeys(("build_s", "load_s", "first_predict_s", "predict_s"))
    with _step("reading berth.yaml", bundle_dir):
        spec = read_bundle(bundle_dir)
    with _step("checking requirements", bundle_dir):
        check_requirements(spec.requirements)
    _empty(bundle_dir / ARTIFACTS)
    if spec.framework == "python":
        timings["build_s"] = _build(bundle_dir, spec)
    _say("loading the model…")
    with _step("load", bundle_dir), _timed(timings, "load_s"):
        runtime = load_runtime(bundle_dir, spec)
    report = {"ok": True, "framework": spec.framework, "requirements": list(spec.requirements)}
    return report | _predict_example(runtime, spec, timings) | {"timings": timings}


def _build(bundle_dir: Path, spec: BundleSpec) -> float:
    from serving.runtimes.python import build_model, save_built_model

    _say(f"running {spec.entry_point}.build()…")
    with _step("build", bundle_dir):
        started = time.perf_counter()
        model = build_model(bundle_dir, spec.entry_point or "")
        build_s = time.perf_counter() - started
    with _step("saving the built model", bundle_dir):
        save_built_model(model, bundle_dir)
    _say(f"build() took {build_s:.3f} s")
    return build_s


def _predict_example(runtime: Runtime, spec: BundleSpec, timings: dict[str, float | None]) -> dict[str, Any]:
    examples = spec.examples
    if examples is None:
        _say("no example_input in berth.yaml: the model loads, but predict was not tried")
        return {"example_input": None, "input_schema": None, "output_schema": None, "example_output": []}
    with _step("reading example_input", runtime.bundle_dir):
        input_schema = infer_input_schema(examples, spec.input_schema)
        frame = coerce_frame(examples, input_schema)
    with _step("predict", runtime.bundle_dir):
        with _timed(timings, "first_predict_s"):
            _predict(runtime, frame)
        with _timed(timings, "predict_s"):
            output = _predict(runtime, frame)
        output_schema = infer_output_schema(output)
    _predict_declared_nulls(runtime, examples, input_schema)
    return {
        "example_input": examples,
        "input_schema": input_schema,
        "output_schema": output_schema,
        "example_output": _records(output.head(EXAMPLE_OUTPUT_ROWS)),
    }


def _predict_declared_nulls(runtime: Runtime, examples: list[dict[str, Any]], input_schema: list[dict[str, Any]]) -> None:
    """Number fields berth.yaml declares nullable, though the example never is null there: the
    model must take them as NaN, or serving would answer 500 where the schema promised a value."""
    declared = [field["name"] for field in input_schema if field["nullable"] and field["dtype"] == "number"
                and all(record[field["name"]] is not None for record in examples)]
    if not declared:
        return
    _say(f"predicting the example with null {', '.join(declared)} (declared nullable)…")
    with _step(f"predict with null {', '.join(declared)} (declared nullable in input_schema)", runtime.bundle_dir):
        _predict(runtime, coerce_frame([examples[0] | dict.fromkeys(declared)], input_schema))


def _predict(runtime: Runtime, frame: pd.DataFrame) -> pd.DataFrame:
    output = runtime.predict(frame.copy())
    if len(output) != len(frame):
        raise PredictionError(f"predict returned {len(output)} rows for {len(frame)} input rows")
    return output


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", default_handler=str))


@contextmanager
def _step(name: str, bundle_dir: Path) -> Iterator[None]:
    try:
        yield
    except MemoryError as exc:
        raise StepFailed(_memory_message(name)) from exc
    except OSError as exc:
        if exc.errno != errno.ENOMEM:
            raise StepFailed(_failure_message(name, exc, bundle_dir)) from exc
        raise StepFailed(_memory_message(name)) from exc
    except (Exception, SystemExit) as exc:
        raise StepFailed(_failure_message(name, exc, bundle_dir)) from exc


@contextmanager
def _timed(timings: dict[str, float | None], key: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[key] = round(time.perf_counter() - started, 6)
    _say(f"{key.removesuffix('_s').replace('_', ' ')}: {timings[key]:.4f} s")


def _memory_message(step: str) -> str:
    return (
        f"{step} failed: the model exceeded the memory limit (MemoryError). Use less memory, "
        "or ask an admin to raise BERTH_BUILD_MEMORY_MB."
    )


def _failure_message(step: str, exc: BaseException, bundle_dir: Path) -> str:
    if isinstance(exc, ServingError):
        return f"{step} failed: {exc.message}{_where(exc.__cause__ or exc, bundle_dir)}"
    return f"{step} failed: {type(exc).__name__}: {exc}{_where(exc, bundle_dir)}"


def _where(exc: BaseException, bundle_dir: Path) -> str:
    """The innermost line of the user's own code, if the error passed through it."""
    root = str(bundle_dir.resolve()) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({frame.filename.removeprefix(root)}:{frame.lineno} in {frame.name})"


def _say(message: str) -> None:
    print(f"berth: {message}", file=sys.stderr, flush=True)


def _empty(folder: Path) -> None:
    """Remove what a folder holds (in the sandbox it is a mount point, which can't be removed itself)."""
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _hand_back_artifacts(bundle_dir: Path) -> None:
    """In the sandbox the bundle is read-only: send `.berth` (a tmpfs) out as a tar on the given fd."""
    fd = os.environ.get(ARTIFACTS_FD_ENV)
    if not fd:
        return
    with os.fdopen(int(fd), "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|") as tar:
        for child in sorted((bundle_dir / ARTIFACTS).iterdir()):
            tar.add(child, arcname=child.name)


def _stdout_for_report() -> TextIO:
    """Keep the real stdout for the report; everything else printed goes to stderr."""
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(report_fd, "w", encoding="utf-8")


def _save_report(bundle_dir: Path, report: dict[str, Any]) -> None:
    try:
        (bundle_dir / ARTIFACTS).mkdir(exist_ok=True)
        (bundle_dir / REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")
    except OSError as exc:
        _say(f"could not write {REPORT}: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.validate", description=__doc__.splitlines()[0])
    parser.add_argument("bundle_dir", type=Path)
    bundle_dir = parser.parse_args(argv).bundle_dir.resolve()
    report_out = _stdout_for_report()
    try:
        report, code = validate(bundle_dir), 0
        _say("validation passed")
    except StepFailed as failure:
        traceback.print_exception(failure.__cause__ or failure, file=sys.stderr)
        report, code = {"ok": False, "error": str(failure)}, 1
        _say(str(failure))
    if bundle_dir.is_dir():
        _save_report(bundle_dir, report)
        _hand_back_artifacts(bundle_dir)
    print(json.dumps(report, default=str), file=report_out, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
