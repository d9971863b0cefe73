"""XGBoost: a native model file (.json / .ubj) or a pickled scikit-learn-API model.

Served models predict on one thread per worker process (more workers use more cores): XGBoost's
OpenMP threads don't survive the fork from the parent that loaded the model, and a forked
worker that asked for them would hang.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.runtimes.base import Outputs, Runtime, load_pickled, prediction_outputs
from serving.runtimes.sklearn import Estimator, load_estimator

if TYPE_CHECKING:
    import pandas as pd

NATIVE_SUFFIXES = (".json", ".ubj")


class XGBoostRuntime(Runtime):
    booster: Any = None  # a native Booster file without a scikit-learn wrapper
    estimator: Estimator | None = None

    def load(self) -> None:
        import xgboost

        path = self.model_path
        model = load_native(path) if path.suffix.lower() in NATIVE_SUFFIXES else load_estimator(path.name, load_pickled(path))
        if isinstance(model, xgboost.Booster):
            model.set_param({"nthread": 1})
            self.booster = model
            return
        if isinstance(model, xgboost.XGBModel):
            model.set_params(n_jobs=1)
            model.get_booster().set_param({"nthread": 1})
        self.estimator = Estimator(model)
        self.takes_frame = self.estimator.takes_frame

    @property
    def model(self) -> Any:
        return self.booster if self.estimator is None else self.estimator.model

    def feature_names(self) -> list[str] | None:
        if self.estimator is not None:
            return self.estimator.names
        names = self.booster.feature_names
        return None if names is None else list(names)

    def input_dtypes(self, count: int) -> list[Any]:
        return [np.float32] * count  # XGBoost keeps every feature value as a float32

    def predict_batch(self, inputs: Any) -> Outputs | pd.DataFrame:
        if self.estimator is not None:
            return self.estimator.predict(inputs)
        return prediction_outputs(self.booster.inplace_predict(inputs))


def load_native(path: Path) -> Any:
    """The scikit-learn wrapper the file was saved from (it records it), else the Booster."""
    import xgboost

    booster = xgboost.Booster(params={"nthread": 1})
    booster.load_model(str(path))
    wrapper = {
        "classifier": xgboost.XGBClassifier,
        "regressor": xgboost.XGBRegressor,
        "ranker": xgboost.XGBRanker,
    }.get(_estimator_type(booster) or "")
    if wrapper is None:
        return booster
    model = wrapper(n_jobs=1)
    model.load_model(str(path))
    return model


def _estimator_type(booster: Any) -> str | None:
    meta = booster.attr("scikit_learn")
    return json.loads(meta).get("_estimator_type") if meta else None
