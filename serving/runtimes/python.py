"""A Python class with `build()` and `predict(df) -> DataFrame`, as Qwak users write it.

At validation `build()` runs once and the trained instance is pickled to
`.berth/model.pkl`; replicas unpickle it. Without that file the class is built here.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from serving.errors import BundleError, ModelLoadError, PredictionError
from serving.runtimes.base import Runtime

BUILT_MODEL = Path(".berth") / "model.pkl"
_bundle_modules: set[str] = set()  # top-level modules imported from a bundle, evicted on reload


class PythonRuntime(Runtime):
    """The model's own `predict(df)`: it gets a DataFrame in schema order and dtypes."""

    model: Any
    takes_frame = True
    warm_before_initialize = False
    may_block = True

    def load(self) -> None:
        entry_point = self.spec.entry_point or ""
        if (self.bundle_dir / BUILT_MODEL).is_file():
            self.model = load_built_model(self.bundle_dir, entry_point)
        else:
            self.model = build_model(self.bundle_dir, entry_point)
        if not callable(getattr(self.model, "predict", None)):
            raise ModelLoadError(f"{type(self.model).__name__} has no predict(df) method")

    def initialize(self) -> None:
        _call_if_defined(self.model, "initialize_model")

    def predict_batch(self, inputs: pd.DataFrame) -> pd.DataFrame:
        result = self.model.predict(inputs)
        name = type(self.model).__name__
        if not isinstance(result, pd.DataFrame):
            kind = type(result)
            raise PredictionError(
                f"{name}.predict() returned {kind.__module__}.{kind.__qualname__}; it must return a pandas DataFrame"
            )
        if len(result) != len(inputs):
            raise PredictionError(f"{name}.predict() returned {len(result)} rows for {len(inputs)}; return one per input row")
        return result


def import_model_class(bundle_dir: Path, entry_point: str) -> type:
    module_name, class_name = entry_point.split(":")
    _put_bundle_first_on_path(Path(bundle_dir), module_name)
    module = importlib.import_module(module_name)
    model_class = getattr(module, class_name, None)
    if not isinstance(model_class, type):
        raise ModelLoadError(f"entry_point {entry_point}: {module_name} defines no class {class_name}")
    return model_class


def build_model(bundle_dir: Path, entry_point: str) -> Any:
    """Instantiate the user's class and run its `build()`, if it has one."""
    model = import_model_class(bundle_dir, entry_point)()
    _call_if_defined(model, "build")
    return model


def save_built_model(model: Any, bundle_dir: Path) -> Path:
    path = Path(bundle_dir) / BUILT_MODEL
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    try:
        with partial.open("wb") as file:
            pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        partial.unlink(missing_ok=True)
        raise BundleError(
            f"the trained {type(model).__name__} can't be pickled ({type(exc).__name__}: {exc}); keep only "
            "picklable state on self, and open clients or locks in initialize_model() instead"
        ) from exc
    os.replace(partial, path)
    return path


def load_built_model(bundle_dir: Path, entry_point: str) -> Any:
    _put_bundle_first_on_path(Path(bundle_dir), entry_point.split(":")[0])
    with (Path(bundle_dir) / BUILT_MODEL).open("rb") as file:
        return pickle.load(file)  # noqa: S301 - our own build step wrote this file from the bundle's code


def _call_if_defined(model: Any, method: str) -> None:
    hook = getattr(model, method, None)
    if callable(hook):
        hook()


def _put_bundle_first_on_path(bundle_dir: Path, module_name: str) -> None:
    """The bundle's modules win, and a module of the same name from another bundle is forgotten."""
    root = str(bundle_dir.resolve())
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    top = module_name.split(".")[0]
    _bundle_modules.add(top)
    for name in list(sys.modules):
        if name.split(".")[0] in _bundle_modules and not _is_inside(sys.modules[name], root):
            del sys.modules[name]
    importlib.invalidate_caches()


def _is_inside(module: Any, root: str) -> bool:
    file = getattr(module, "__file__", None) or ""
    return file.startswith(root + os.sep)
