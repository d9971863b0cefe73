"""LightGBM: a native booster text file (.txt) or a pickled model.

Served models predict on one thread per worker process (more workers use more cores): LightGBM's
OpenMP threads don't survive the fork from the parent that loaded the model, and a forked
worker that asked for them would hang.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serving.runtimes.base import Outputs, Runtime, load_pickled, prediction_outputs
from serving.runtimes.sklearn import Estimator, load_estimator

if TYPE_CHECKING:
    import pandas as pd

NATIVE_SUFFIXES = (".txt", ".model")


class LightGBMRuntime(Runtime):
    booster: Any = None  # a native Booster file
    estimator: Estimator | None = None

    def load(self) -> None:
        import lightgbm

        path = self.model_path
        if path.suffix.lower() in NATIVE_SUFFIXES:
            self.booster = lightgbm.Booster(model_file=str(path))
            return
        model = load_estimator(path.name, load_pickled(path))
        if isinstance(model, lightgbm.Booster):
            self.booster = model
            return
        if isinstance(model, lightgbm.LGBMModel):
            model.set_params(n_jobs=1)
        self.estimator = Estimator(model)
        self.takes_frame = self.estimator.takes_frame

    @property
    def model(self) -> Any:
        return self.booster if self.estimator is None else self.estimator.model

    def feature_names(self) -> list[str] | None:
        if self.estimator is not None:
            return self.estimator.names
        return list(self.booster.feature_name())

    def predict_batch(self, inputs: Any) -> Outputs | pd.DataFrame:
        if self.estimator is not None:
            return self.estimator.predict(inputs)
        return prediction_outputs(self.booster.predict(inputs, num_threads=1))
