"""The small interface every framework runtime implements, and helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from serving.errors import ModelLoadError, PredictionError

if TYPE_CHECKING:
    from serving.bundle import BundleSpec


class Runtime(ABC):
    """A loaded model: `load()` once, then `predict()` many times, batches included."""

    def __init__(self, bundle_dir: Path, spec: BundleSpec | None = None) -> None:
        self.bundle_dir = Path(bundle_dir)
        self._spec = spec

    @property
    def spec(self) -> BundleSpec:
        if self._spec is None:
            from serving.bundle import read_bundle

            self._spec = read_bundle(self.bundle_dir)
        return self._spec

    @property
    def model_path(self) -> Path:
        if not self.spec.model_file:
            raise ModelLoadError(f"berth.yaml must name the model_file for a {self.spec.framework} build")
        return self.bundle_dir / self.spec.model_file

    @abstractmethod
    def load(self) -> None:
        """Read the artifact from `bundle_dir`; raise on anything the user must fix."""

    @abstractmethod
    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """Predict one row per input row, in order."""


def load_pickled(path: Path) -> Any:
    """A joblib or plain pickle file (joblib reads both)."""
    import joblib

    return joblib.load(path)


def model_input(df: pd.DataFrame, feature_names: Sequence[str] | None) -> pd.DataFrame | np.ndarray:
    """Columns in the order the model was trained on, or positions when it knows no names."""
    if feature_names is None:
        return df.to_numpy()
    names = [str(name) for name in feature_names]
    if df.columns.tolist() == names:  # already in order: df[names] would copy (~0.15 ms a call)
        return df
    missing = [name for name in names if name not in df.columns]
    if not missing:
        return df[names]
    if len(missing) == len(names):  # trained on other names (or on numpy): go by position
        return df.to_numpy()
    raise PredictionError(f"the model was trained on features {names}; the input lacks {missing}")


def prediction_frame(prediction: Any) -> pd.DataFrame:
    """A 1-d answer becomes column `prediction`; a 2-d one `prediction_0`, `prediction_1`, …"""
    if isinstance(prediction, pd.DataFrame):
        return prediction
    if isinstance(prediction, pd.Series):
        return prediction.to_frame("prediction").reset_index(drop=True)
    array = np.asarray(prediction)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return pd.DataFrame({"prediction": array}, copy=False)
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"prediction_{i}" for i in range(array.shape[1])], copy=False)
    raise PredictionError(f"the model answered with an array of shape {array.shape}; expected 1 or 2 dimensions")
