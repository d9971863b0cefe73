"""Pick the runtime for a bundle's framework, load it and initialize it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from serving.bundle import BundleSpec, read_bundle
from serving.errors import ModelLoadError, ServingError
from serving.runtimes.base import Runtime

RUNTIMES = {  # imported lazily: a replica only pays for its own framework
    "sklearn": "serving.runtimes.sklearn:SklearnRuntime",
    "xgboost": "serving.runtimes.xgboost:XGBoostRuntime",
    "lightgbm": "serving.runtimes.lightgbm:LightGBMRuntime",
    "onnx": "serving.runtimes.onnx:OnnxRuntime",
    "python": "serving.runtimes.python:PythonRuntime",
}


def runtime_class(framework: str) -> type[Runtime]:
    module_name, class_name = RUNTIMES[framework].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_runtime(bundle_dir: Path, spec: BundleSpec | None = None, initialize: bool = True) -> Runtime:
    """A loaded runtime, also initialized for this process unless `initialize` is False (the
    server's parent, which initializes none: each worker calls `initialize_runtime` after the fork).
    ModelLoadError (with the cause chained) when the model can't load."""
    spec = spec or read_bundle(Path(bundle_dir))
    runtime = runtime_class(spec.framework)(Path(bundle_dir), spec)
    _loading(runtime, runtime.load)
    if initialize:
        initialize_runtime(runtime)
    return runtime


def initialize_runtime(runtime: Runtime) -> None:
    """`runtime.initialize()`, failing like a load does."""
    _loading(runtime, runtime.initialize)


def _loading(runtime: Runtime, step: Callable[[], None]) -> None:
    try:
        step()
    except (ServingError, MemoryError):
        raise
    except Exception as exc:
        spec = runtime.spec
        what = spec.model_file or spec.entry_point
        raise ModelLoadError(f"could not load {what} ({spec.framework}): {type(exc).__name__}: {exc}") from exc
