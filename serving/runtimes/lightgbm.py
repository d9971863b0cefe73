"""LightGBM: a native booster text file (.txt) or a pickled model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from serving.runtimes.base import Runtime, load_pickled, model_input, prediction_frame
from serving.runtimes.sklearn import load_estimator, predict_with_estimator

NATIVE_SUFFIXES = (".txt", ".model")


class LightGBMRuntime(Runtime):
    model: Any

    def load(self) -> None:
        import lightgbm

        path = self.model_path
        if path.suffix.lower() in NATIVE_SUFFIXES:
            self.model = lightgbm.Booster(model_file=str(path))
        else:
            self.model = load_estimator(path.name, load_pickled(path))

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        import lightgbm

        if isinstance(self.model, lightgbm.Booster):
            return prediction_frame(self.model.predict(model_input(df, self.model.feature_name())))
        return predict_with_estimator(self.model, df)
