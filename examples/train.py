"""Train small iris models and write one example bundle per framework.

    .venv/bin/python examples/train.py            # writes examples/iris_<framework>/

Only data shipped with scikit-learn is used. The artifacts are not committed; the tests
call the same writers into a temporary directory.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_iris

EXAMPLES = Path(__file__).resolve().parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
EXAMPLE_INPUT = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]
EXPECTED_SPECIES = [0, 2]  # setosa, virginica


def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris()
    return pd.DataFrame(data.data, columns=FEATURES), data.target


def write_manifest(dest: Path, framework: str, model_file: str, requirements: list[str]) -> Path:
    manifest = {
        "framework": framework,
        "model_file": model_file,
        "requirements": requirements,
        "example_input": EXAMPLE_INPUT,
    }
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return dest


def write_sklearn_bundle(dest: Path) -> Path:
    from sklearn.ensemble import RandomForestClassifier

    features, species = iris()
    model = RandomForestClassifier(n_estimators=25, random_state=0).fit(features, species)
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, dest / "model.joblib")
    return write_manifest(dest, "sklearn", "model.joblib", ["scikit-learn>=1.3"])


def write_xgboost_bundle(dest: Path, native: bool = True) -> Path:
    from xgboost import XGBClassifier

    features, species = iris()
    model = XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(features, species)
    dest.mkdir(parents=True, exist_ok=True)
    model_file = "model.json" if native else "model.pkl"
    if native:
        model.save_model(dest / model_file)
    else:
        joblib.dump(model, dest / model_file)
    return write_manifest(dest, "xgboost", model_file, ["xgboost>=2"])


def write_lightgbm_bundle(dest: Path, native: bool = True) -> Path:
    from lightgbm import LGBMClassifier

    features, species = iris()
    model = LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1).fit(features, species)
    dest.mkdir(parents=True, exist_ok=True)
    model_file = "model.txt" if native else "model.pkl"
    if native:
        model.booster_.save_model(dest / model_file)
    else:
        joblib.dump(model, dest / model_file)
    return write_manifest(dest, "lightgbm", model_file, ["lightgbm>=4"])


def write_onnx_bundle(dest: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    features, species = iris()
    matrix = features.to_numpy(dtype=np.float32)
    model = LogisticRegression(max_iter=500).fit(matrix, species)
    onnx_model = to_onnx(model, matrix[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.onnx").write_bytes(onnx_model.SerializeToString())
    return write_manifest(dest, "onnx", "model.onnx", ["onnxruntime>=1.16"])


def write_python_bundle(dest: Path) -> Path:
    shutil.copytree(EXAMPLES / "iris_python", dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".berth"))
    return dest


WRITERS: dict[str, Callable[[Path], Any]] = {
    "sklearn": write_sklearn_bundle,
    "xgboost": write_xgboost_bundle,
    "lightgbm": write_lightgbm_bundle,
    "onnx": write_onnx_bundle,
}


def main() -> None:
    for framework, write in WRITERS.items():
        dest = EXAMPLES / f"iris_{framework}"
        shutil.rmtree(dest, ignore_errors=True)
        write(dest)
        print(f"wrote {dest.relative_to(EXAMPLES.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
