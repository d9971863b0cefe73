"""Fixtures for serving tests. Shared file: add new fixtures at the end."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
IRIS_RECORDS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]


def _load_train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("berth_examples_train", EXAMPLES / "train.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def examples_train() -> ModuleType:
    """examples/train.py, the script that writes the example bundles."""
    return _load_train_module()


@pytest.fixture(scope="session")
def trained_iris_bundles(tmp_path_factory: pytest.TempPathFactory, examples_train: ModuleType) -> dict[str, Path]:
    """One trained iris bundle per framework (and format), written once per session."""
    root = tmp_path_factory.mktemp("iris")
    writers: dict[str, Callable[[Path], Path]] = {
        "sklearn": examples_train.write_sklearn_bundle,
        "xgboost": examples_train.write_xgboost_bundle,
        "xgboost-pickle": lambda dest: examples_train.write_xgboost_bundle(dest, native=False),
        "lightgbm": examples_train.write_lightgbm_bundle,
        "lightgbm-pickle": lambda dest: examples_train.write_lightgbm_bundle(dest, native=False),
        "onnx": examples_train.write_onnx_bundle,
        "python": examples_train.write_python_bundle,
    }
    return {name: write(root / name) for name, write in writers.items()}


@pytest.fixture
def iris_bundle(tmp_path: Path, trained_iris_bundles: dict[str, Path]) -> Callable[[str], Path]:
    """A fresh copy of a trained iris bundle: `iris_bundle("onnx")`."""

    def copy(name: str) -> Path:
        dest = tmp_path / f"iris_{name}"
        shutil.copytree(trained_iris_bundles[name], dest)
        return dest

    return copy


@pytest.fixture
def python_bundle(tmp_path: Path) -> Callable[..., Path]:
    """A python-framework bundle whose model.py is `source` and class `Model`."""

    def write(source: str, example_input: Any = IRIS_RECORDS, name: str = "bundle", **manifest: Any) -> Path:
        bundle = tmp_path / name
        bundle.mkdir()
        (bundle / "model.py").write_text(textwrap.dedent(source), encoding="utf-8")
        spec = {"framework": "python", "entry_point": "model:Model", "example_input": example_input} | manifest
        (bundle / "berth.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return bundle

    return write


@dataclass(frozen=True)
class Validation:
    returncode: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])


def validator_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return env | {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def run_validate() -> Callable[..., Validation]:
    """Run `python -m serving.validate BUNDLE` the way the build task does."""

    def run(bundle: Path, timeout: float = 120, preexec_fn: Callable[[], None] | None = None) -> Validation:
        done = subprocess.run(  # noqa: S603 - this Python running our own module
            [sys.executable, "-m", "serving.validate", str(bundle)],
            check=False, capture_output=True, text=True, timeout=timeout, cwd=bundle,
            env=validator_env(), preexec_fn=preexec_fn,
        )
        return Validation(done.returncode, done.stdout, done.stderr)

    return run
