"""The small interface every framework runtime implements, and helpers they share.

A runtime is loaded once (in the model server, by the parent process before it forks its
workers, so the model's memory is shared), `initialize()`d in every process that predicts,
then asked to `predict_batch()` whole batches. A batch is a 2-d numpy array whose columns
follow `input_positions()`, or a pandas DataFrame for runtimes that `takes_frame`. The
answer is named output columns (`Outputs`), or a DataFrame.

`predict(df) -> DataFrame` is the same path with a DataFrame on each side, for validation.
pandas is imported only where a DataFrame is really built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.errors import ModelLoadError, PredictionError

if TYPE_CHECKING:
    import pandas as pd

    from serving.bundle import BundleSpec

Outputs = dict[str, Any]  # output name → one value per input row (a 1-d array or a list)


class Runtime(ABC):
    """A loaded model: `load()` once, `initialize()` per process, then `predict_batch()` many times."""

    takes_frame = False  # True: predict_batch gets a DataFrame (schema dtypes) instead of an array
    warm_before_initialize = True  # False: the server predicts its warm-up only after initialize()
    may_block = False  # True: predict may wait on I/O or sleep (user code), never run it in the event loop

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

    def initialize(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Set up what can't cross a fork (clients, threads), in each process that predicts."""

    def feature_names(self) -> list[str] | None:
        """The columns the model was trained on, in its order; None when it knows no names."""
        return None

    def input_positions(self, columns: Sequence[str]) -> list[int] | None:
        """Which request columns the model takes, in its order; None: all of them as they come."""
        return feature_positions(columns, self.feature_names())

    def input_dtypes(self, count: int) -> list[Any]:
        """What the model casts each of the `count` columns it takes (in its order) to, where it
        knows: the server refuses values that dtype can't hold (1e308 for a float32 model) with a
        422 instead of letting them turn into inf. None: the column is taken as the server sends it."""
        return [None] * count

    @abstractmethod
    def predict_batch(self, inputs: Any) -> Outputs | pd.DataFrame:
        """Predict one row per input row, in order."""

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """A DataFrame in (columns by name, in any order), a DataFrame out."""
        import pandas as pd

        positions = self.input_positions([str(name) for name in df.columns])
        selected = df if positions is None else df.iloc[:, positions]
        result = self.predict_batch(selected if self.takes_frame else selected.to_numpy())
        return result if isinstance(result, pd.DataFrame) else pd.DataFrame(result, copy=False)


def load_pickled(path: Path) -> Any:
    """A joblib or plain pickle file (joblib reads both)."""
    import joblib

    return joblib.load(path)


def feature_positions(columns: Sequence[str], feature_names: Sequence[str] | None) -> list[int] | None:
    """Positions of the model's features among `columns`, or None to take the columns as they are:
    the model knows no names, they are already in its order, or it was trained on other names
    (or on numpy arrays), so it goes by position."""
    if feature_names is None:
        return None
    names = [str(name) for name in feature_names]
    if list(columns) == names:
        return None
    index = {name: i for i, name in enumerate(columns)}
    missing = [name for name in names if name not in index]
    if not missing:
        return [index[name] for name in names]
    if len(missing) == len(names):
        return None
    raise PredictionError(f"the model was trained on features {names}; the input lacks {missing}")


def prediction_outputs(prediction: Any) -> Outputs | pd.DataFrame:
    """A 1-d answer becomes column `prediction`; a 2-d one `prediction_0`, `prediction_1`, …
    A DataFrame stays as it is."""
    kind = type(prediction)
    if kind.__module__.startswith("pandas"):
        if kind.__name__ == "DataFrame":
            return prediction
        if kind.__name__ == "Series":
            return {"prediction": prediction.to_numpy()}
    array = np.asarray(prediction)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return {"prediction": array}
    if array.ndim == 2:
        return {f"prediction_{i}": array[:, i] for i in range(array.shape[1])}
    raise PredictionError(f"the model answered with an array of shape {array.shape}; expected 1 or 2 dimensions")
