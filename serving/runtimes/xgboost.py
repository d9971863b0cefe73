"""XGBoost: a native model file (.json / .ubj) or a pickled scikit-learn-API model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from serving.runtimes.base import Runtime, load_pickled, model_input, prediction_frame
from serving.runtimes.sklearn import load_estimator, predict_with_estimator

NATIVE_SUFFIXES = (".json", ".ubj")


class XGBoostRuntime(Runtime):
    model: Any

    def load(self) -> None:
        path = self.model_path
        if path.suffix.lower() in NATIVE_SUFFIXES:
            self.model = load_native(path)
        else:
            self.model = load_estimator(path.name, load_pickled(path))

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        import xgboost

        if isinstance(self.model, xgboost.Booster):
            matrix = xgboost.DMatrix(model_input(df, self.model.feature_names))
            return prediction_frame(self.model.predict(matrix))
        return predict_with_estimator(self.model, df)


def load_native(path: Path) -> Any:
    """The scikit-learn wrapper the file was saved from (it records it), else the Booster."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    wrapper = {
        "classifier": xgboost.XGBClassifier,
        "regressor": xgboost.XGBRegressor,
        "ranker": xgboost.XGBRanker,
    }.get(_estimator_type(booster) or "")
    if wrapper is None:
        return booster
    model = wrapper()
    model.load_model(str(path))
    return model


def _estimator_type(booster: Any) -> str | None:
    meta = booster.attr("scikit_learn")
    return json.loads(meta).get("_estimator_type") if meta else None
