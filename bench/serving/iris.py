"""The model every server answers with: an SVC on scikit-learn's bundled iris data (no download).

Two fits of the same estimator: one on a DataFrame, written as the bundle the console makes for an
uploaded sklearn joblib file (serving.bundle.write_single_file_bundle, with one example row) and
loaded by the replica and the DataFrame reference; one on a plain array, for the numpy reference.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from serving.bundle import write_single_file_bundle

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# The body bench/serving/post.lua sends is [ROW]; every server must answer this (setosa is class 0).
EXPECTED: list[dict[str, Any]] = [{"prediction": 0}]


@dataclass(frozen=True)
class IrisModel:
    bundle: Path  # the replica's --build directory
    frame_model: Path  # fitted on a DataFrame with FEATURES as columns
    array_model: Path  # fitted on a numpy array in FEATURES order


def train(dest: Path) -> IrisModel:
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    iris = load_iris(as_frame=True)
    frame = iris.data.set_axis(list(FEATURES), axis=1)
    by_frame = SVC().fit(frame, iris.target)
    by_array = SVC().fit(frame.to_numpy(), iris.target.to_numpy())
    answer = [{"prediction": int(by_frame.predict(pd.DataFrame([ROW]))[0])}]
    if answer != EXPECTED:
        raise SystemExit(f"the iris SVC answers {answer} for {ROW}, the bench expects {EXPECTED}")
    dest.mkdir(parents=True, exist_ok=True)
    frame_model, array_model = dest / "model.joblib", dest / "model-numpy.joblib"
    joblib.dump(by_frame, frame_model)
    joblib.dump(by_array, array_model)
    write_single_file_bundle(frame_model, "sklearn", dest / "bundle", [ROW])
    return IrisModel(dest / "bundle", frame_model, array_model)


@dataclass(frozen=True)
class Floor:
    """Median in-process `model.predict` on one row, in ms."""

    dataframe_ms: float
    numpy_ms: float


def floor(model: IrisModel, calls: int = 3000) -> Floor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_frame, by_array = joblib.load(model.frame_model), joblib.load(model.array_model)
        frame = pd.DataFrame([ROW])
        array = np.array([[ROW[name] for name in FEATURES]], dtype=np.float64)
        return Floor(_median_ms(lambda: by_frame.predict(frame), calls), _median_ms(lambda: by_array.predict(array), calls))


def _median_ms(call: Callable[[], object], calls: int) -> float:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[calls // 10:]) * 1000
