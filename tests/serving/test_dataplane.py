"""The data plane in-process: what each kind of model is handed, and what the server answers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression

from serving.codec import encode_json
from serving.dataplane import DataPlane, Limits
from serving.errors import PredictionError, SchemaError

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["a", "b", "c", "d"]
WEIGHTS = [1.0, 10.0, 100.0, 1000.0]  # a prediction's digits say which value went to which weight
ONE = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}  # predicts 4321 when the model gets a, b, c, d in order
IRIS_RECORDS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]
# What the server answered for IRIS_RECORDS before it stopped building DataFrames for these models.
LABELS = [{"prediction": 0}, {"prediction": 2}]
ANSWERS_BEFORE: dict[str, Any] = {
    "sklearn": LABELS,
    "xgboost": LABELS,
    "xgboost-pickle": LABELS,
    "lightgbm-pickle": LABELS,
    "python": [{"species": 0}, {"species": 2}],
    "lightgbm": [
        {"prediction_0": 0.9456102298356056, "prediction_1": 0.027131096474860956, "prediction_2": 0.027258673689533407},
        {"prediction_0": 0.03312994744735269, "prediction_1": 0.05308281909278159, "prediction_2": 0.9137872334598658},
    ],
    "onnx": [
        {"prediction": 0, "probabilities": [0.9815728664398193, 0.018427127972245216, 1.4781146084885677e-8]},
        {"prediction": 2, "probabilities": [0.00005641345342155546, 0.08067714422941208, 0.9192664623260498]},
    ],
}


def started(bundle: Path) -> DataPlane:
    """A data plane as a worker has it: loaded (as in the parent), then started."""
    plane = DataPlane(bundle, Limits(timeout_s=10, max_batch_size=32, max_batch_wait_s=0.005))
    plane.load()
    plane.start()
    return plane


def answers(plane: DataPlane, *bodies: Any) -> list[Any]:
    """What `plane` answers for each JSON body, through the batcher like a worker."""

    async def run() -> list[Any]:
        plane.batcher.start()
        try:
            return [await plane.predict(_reader(orjson.dumps(body))) for body in bodies]
        finally:
            await plane.batcher.stop()

    return asyncio.run(run())


def _reader(body: bytes) -> Callable[[], Any]:
    async def read() -> bytes:
        return body

    return read


def spy_on_predict(model: Any) -> list[Any]:
    """Record what the model's own predict() is called with."""
    seen: list[Any] = []
    predict = model.predict

    def recording(inputs: Any) -> Any:
        seen.append(inputs)
        return predict(inputs)

    model.predict = recording
    return seen


def sklearn_bundle(dest: Path, fitted_on: Any, example: dict[str, float], **manifest: Any) -> Path:
    """A linear model of y = a + 10 b + 100 c + 1000 d, fitted on `fitted_on` (array or DataFrame)."""
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, size=(50, 4))
    frame = pd.DataFrame(values, columns=FEATURES)
    target = frame.to_numpy() @ np.array(WEIGHTS)
    training = fitted_on(frame)
    dest.mkdir()
    joblib.dump(LinearRegression().fit(training, target), dest / "model.joblib")
    manifest = {"framework": "sklearn", "model_file": "model.joblib", "example_input": [example]} | manifest
    (dest / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


def test_a_model_fitted_on_arrays_gets_a_numpy_array_in_schema_order_whatever_order_fields_come_in(
        tmp_path: Path) -> None:
    plane = started(sklearn_bundle(tmp_path / "b", lambda frame: frame.to_numpy(), ONE))
    seen = spy_on_predict(plane.runtime.model)  # type: ignore[union-attr]
    shuffled = {"d": 4.0, "b": 2.0, "a": 1.0, "c": 3.0}
    split = {"columns": ["c", "a", "d", "b"], "data": [[3.0, 1.0, 4.0, 2.0]]}
    results = answers(plane, shuffled, [shuffled], split)
    assert [result[0]["prediction"] for result in results] == pytest.approx([4321.0] * 3)
    assert all(type(inputs) is np.ndarray for inputs in seen)
    assert [inputs.tolist() for inputs in seen] == [[[1.0, 2.0, 3.0, 4.0]]] * 3


def test_a_model_fitted_on_a_dataframe_gets_its_own_column_order_without_warnings(tmp_path: Path) -> None:
    # fitted on columns d, c, b, a; the example input (so the schema) says a, b, c, d
    plane = started(sklearn_bundle(tmp_path / "b", lambda frame: frame[FEATURES[::-1]], ONE))
    seen = spy_on_predict(plane.runtime.model)  # type: ignore[union-attr]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [result] = answers(plane, {"c": 3.0, "a": 1.0, "d": 4.0, "b": 2.0})
    assert result[0]["prediction"] == pytest.approx(4321.0)
    assert type(seen[0]) is np.ndarray
    assert seen[0].tolist() == [[4.0, 3.0, 2.0, 1.0]]


def test_a_null_number_is_refused_before_the_model_sees_it_unless_the_field_is_nullable(tmp_path: Path) -> None:
    plane = started(sklearn_bundle(tmp_path / "b", lambda frame: frame.to_numpy(), ONE))
    seen = spy_on_predict(plane.runtime.model)  # type: ignore[union-attr]
    with pytest.raises(SchemaError, match="field 'b' is null in row 2; it is not nullable") as raised:
        answers(plane, [ONE, {**ONE, "b": None}])
    assert raised.value.status == 422
    assert seen == []


def test_a_declared_nullable_number_reaches_the_model_as_nan_and_its_own_error_stays_a_500(tmp_path: Path) -> None:
    bundle = sklearn_bundle(tmp_path / "b", lambda frame: frame.to_numpy(), ONE, input_schema={"b": {"nullable": True}})
    plane = started(bundle)
    with pytest.raises(PredictionError, match="the model raised ValueError: Input X contains NaN") as raised:
        answers(plane, {**ONE, "b": None})
    assert raised.value.status == 500  # a model that can't take the NaN its schema allows is the model's bug
    [result] = answers(plane, ONE)  # and the next batch is checked as quickly as before
    assert result[0]["prediction"] == pytest.approx(4321.0)


@pytest.mark.parametrize("name", ["sklearn", "xgboost", "xgboost-pickle", "onnx"])
def test_a_value_a_float32_model_cannot_hold_is_a_422_before_the_model_sees_it(
        iris_bundle: Callable[[str], Path], name: str) -> None:
    plane = started(iris_bundle(name))
    too_big = [IRIS_RECORDS[0], {**IRIS_RECORDS[1], "petal_length": -1e308}]
    with pytest.raises(SchemaError, match=r"field 'petal_length' is out of range for float32 in row 2: -1e\+308") as raised:
        answers(plane, too_big)
    assert raised.value.status == 422
    assert answers(plane, {**IRIS_RECORDS[0], "petal_length": 3.4e38})  # float32 holds this one


def test_a_null_in_a_nullable_field_does_not_hide_a_value_out_of_range(iris_bundle: Callable[[str], Path]) -> None:
    bundle = iris_bundle("sklearn")  # a forest: it takes NaN, and computes in float32
    manifest = yaml.safe_load((bundle / "berth.yaml").read_text())
    manifest["input_schema"] = {"sepal_width": {"nullable": True}}
    (bundle / "berth.yaml").write_text(yaml.safe_dump(manifest))
    plane = started(bundle)
    assert answers(plane, {**IRIS_RECORDS[0], "sepal_width": None}) == [[{"prediction": 0}]]
    body = [{**IRIS_RECORDS[0], "sepal_width": None}, {**IRIS_RECORDS[1], "sepal_width": 1e39}]
    with pytest.raises(SchemaError, match=r"field 'sepal_width' is out of range for float32 in row 2: 1e\+39"):
        answers(plane, body)


def test_a_build_recorded_before_fields_said_nullable_still_takes_the_nulls_of_its_example(
        python_bundle: Callable[..., Path]) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def predict(self, df):
                return pd.DataFrame({"x_missing": df["x"].isna()})
    """, example_input=[{"x": None, "n": 1}, {"x": 1.5, "n": 2}])
    (bundle / ".berth").mkdir()
    recorded = [{"name": "x", "dtype": "number"}, {"name": "n", "dtype": "integer"}]
    (bundle / ".berth" / "report.json").write_text(orjson.dumps({"ok": True, "input_schema": recorded}).decode())
    plane = started(bundle)
    assert answers(plane, {"x": None, "n": 3}) == [[{"x_missing": True}]]
    with pytest.raises(SchemaError, match="field 'n' is null in row 1"):
        answers(plane, {"x": 1.0, "n": None})


@pytest.mark.parametrize("name", ["lightgbm", "python"])
def test_a_model_that_computes_in_float64_gets_any_json_number(iris_bundle: Callable[[str], Path], name: str) -> None:
    [result] = answers(started(iris_bundle(name)), {**IRIS_RECORDS[0], "petal_length": 1e308})
    assert len(result) == 1


def test_a_declared_model_dtype_bounds_what_a_python_model_is_sent(python_bundle: Callable[..., Path]) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def predict(self, df):
                return pd.DataFrame({"x": df["x"].astype("float32")})
    """, example_input=[{"x": 1.5, "n": 2}], input_schema={"x": {"model_dtype": "float32"}})
    plane = started(bundle)
    with pytest.raises(SchemaError, match=r"field 'x' is out of range for float32 in row 1: 1e\+39"):
        answers(plane, {"x": 1e39, "n": 1})
    with pytest.raises(SchemaError, match=r"field 'n' is out of range for int64 in row 1: 9223372036854775808"):
        answers(plane, {"x": 1.0, "n": 2**63})
    assert answers(plane, {"x": 2.0, "n": 2**63 - 1}) == [[{"x": 2.0}]]


def test_a_python_model_still_gets_a_dataframe_in_schema_order_and_dtypes(python_bundle: Callable[..., Path]) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def predict(self, df):
                self.seen = df
                return pd.DataFrame({"n": df["n"] * 2})
    """, example_input=[{"n": 1, "x": 0.5, "name": "a", "flag": True}])
    plane = started(bundle)
    [result] = answers(plane, [{"flag": False, "name": "b", "x": 2, "n": 3.0}])
    assert result == [{"n": 6}]
    seen = plane.runtime.model.seen  # type: ignore[union-attr]
    assert isinstance(seen, pd.DataFrame)
    assert list(seen.columns) == ["n", "x", "name", "flag"]
    assert [str(dtype) for dtype in seen.dtypes] == ["int64", "float64", "str", "bool"]  # pandas 3 strings


@pytest.mark.parametrize("name", list(ANSWERS_BEFORE))
def test_every_framework_answers_the_json_it_answered_before(iris_bundle: Callable[[str], Path], name: str) -> None:
    [result] = answers(started(iris_bundle(name)), IRIS_RECORDS)
    expected = ANSWERS_BEFORE[name]
    assert [list(row) for row in result] == [list(row) for row in expected]  # same keys, same order
    if name in ("lightgbm", "onnx"):  # probabilities: the same up to float rounding
        # The bundles are trained afresh in each run, in float32 for ONNX: another CPU's vector
        # instructions round differently (seen: 6.6e-6 apart), so probabilities agree to 1e-4, labels exactly.
        for row, want in zip(result, expected, strict=True):
            for key, value in want.items():
                assert row[key] == pytest.approx(value, rel=1e-6, abs=1e-4)
    else:
        assert encode_json(result) == encode_json(expected)


def test_a_build_that_needs_no_dataframe_never_imports_pandas(iris_bundle: Callable[[str], Path]) -> None:
    script = (
        "import sys\n"
        "from serving.dataplane import DataPlane, Limits\n"
        f"plane = DataPlane({str(iris_bundle('onnx'))!r}, Limits(10, 32, 0.005))\n"
        "plane.load(); plane.start()\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,  # noqa: S603 - this Python, our module
                          timeout=120, check=True)
    assert done.stdout.strip() == "False"
