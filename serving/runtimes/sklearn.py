"""scikit-learn estimators (or anything with `predict`) saved with joblib or pickle."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.errors import ModelLoadError
from serving.runtimes.base import Outputs, Runtime, load_pickled, prediction_outputs


class SklearnRuntime(Runtime):
    estimator: Estimator

    def load(self) -> None:
        self.estimator = Estimator(load_estimator(self.model_path.name, load_pickled(self.model_path)))
        self.takes_frame = self.estimator.takes_frame

    @property
    def model(self) -> Any:
        return self.estimator.model

    def feature_names(self) -> list[str] | None:
        return self.estimator.names

    def input_dtypes(self, count: int) -> list[Any]:
        return [self.estimator.input_dtype] * count

    def predict_batch(self, inputs: Any) -> Outputs | Any:
        return self.estimator.predict(inputs)


def load_estimator(file_name: str, model: Any) -> Any:
    if not callable(getattr(model, "predict", None)):
        raise ModelLoadError(f"{file_name} holds a {type(model).__name__}, which has no predict() method")
    return model


class Estimator:
    """How to call a scikit-learn-API model: on a numpy array in its feature order, unless it looks
    its inputs up by column name (or warns without names), then on a DataFrame with those names.

    A plain scikit-learn estimator fitted on a DataFrame warns on every numpy call and re-checks
    the names of every DataFrame (in sklearn 1.9 that check costs ~1.5 ms, several times an SVC
    predict). The server orders the columns by `feature_names_in_` itself, so it takes those names
    off the loaded estimator: sklearn then takes plain arrays silently.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        names = getattr(model, "feature_names_in_", None)
        self.names = None if names is None else [str(name) for name in names]
        self.takes_frame = False
        self.input_dtype = np.float32 if _computes_in_float32(model) else None
        self.checks_finite = _is_plain_sklearn(model)  # the server checks finiteness, not sklearn
        if self.names is None or _takes_named_arrays(model):
            return
        if self.checks_finite:
            try:
                del model.feature_names_in_
                return
            except AttributeError:
                self.checks_finite = False
        self.takes_frame = True

    def predict(self, inputs: Any) -> Outputs | Any:
        if self.checks_finite and _finite_floats(inputs):
            # sklearn's own finiteness check costs ~15% of a small SVC predict; this one ~1 µs.
            # A batch with NaN or inf is predicted without it, so sklearn answers as it always did.
            import sklearn

            with sklearn.config_context(assume_finite=True):
                return prediction_outputs(self.model.predict(inputs))
        return prediction_outputs(self.model.predict(inputs))


def _finite_floats(inputs: Any) -> bool:
    return isinstance(inputs, np.ndarray) and inputs.dtype.kind == "f" and bool(np.isfinite(inputs).all())


# what selects or transforms columns by name: pipelines, column transformers, function transformers
_COLUMN_AWARE = ("steps", "transformers", "transformer_list", "func", "feature_names_out")


def _is_plain_sklearn(model: Any) -> bool:
    return type(model).__module__.startswith("sklearn.") and not _reads_column_names(model)


def _reads_column_names(model: Any, depth: int = 2) -> bool:
    """Whether the model, or an estimator it holds (a meta-estimator's fitted parts), may select or
    check its input by column name. A forest's trees, fitted on arrays, don't."""
    if any(hasattr(model, attribute) for attribute in _COLUMN_AWARE):
        return True
    if depth == 0:
        return False
    for value in getattr(model, "__dict__", {}).values():
        for part in _estimators_in(value):
            if hasattr(part, "feature_names_in_") or _reads_column_names(part, depth - 1):
                return True
    return False


def _estimators_in(value: Any) -> list[Any]:
    """The estimators an attribute holds: itself, or the first few of a list or object array."""
    if isinstance(value, np.ndarray):
        values = list(value.ravel()[:3]) if value.dtype == object else []
    elif isinstance(value, list | tuple):
        values = list(value[:3])
    else:
        values = [value]
    return [v for v in values if hasattr(v, "predict") or hasattr(v, "predict_proba") or hasattr(v, "transform")]


def _computes_in_float32(model: Any, depth: int = 3) -> bool:
    """XGBoost models, and scikit-learn trees (forests, gradient boosting, isolation forests, or a
    pipeline or meta-estimator holding one), cast their input to float32."""
    if hasattr(model, "tree_") or type(model).__module__.startswith("xgboost."):
        return True
    if depth == 0:
        return False
    return any(_computes_in_float32(part, depth - 1) for value in getattr(model, "__dict__", {}).values()
               for part in _parts(value))


def _parts(value: Any) -> list[Any]:
    """The estimators an attribute holds, every step of a pipeline's (name, estimator) list included."""
    if isinstance(value, list) and value and all(isinstance(item, tuple) for item in value):
        return [part for item in value for part in item if hasattr(part, "fit")]
    return _estimators_in(value)


def _takes_named_arrays(model: Any) -> bool:
    """XGBoost's scikit-learn wrappers predict numpy arrays silently whatever they were fitted on."""
    return type(model).__module__.startswith("xgboost.")
