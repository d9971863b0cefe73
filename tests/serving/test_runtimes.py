"""Runtimes load every framework's artifact and answer with a DataFrame; schemas coerce requests."""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from serving.bundle import read_bundle
from serving.errors import BundleError, ModelLoadError, PredictionError, SchemaError
from serving.loader import load_runtime
from serving.runtimes.python import PythonRuntime, build_model, save_built_model
from serving.schema import Schema, coerce_frame, infer_input_schema, infer_output_schema

IRIS_BUNDLES = ("sklearn", "xgboost", "xgboost-pickle", "lightgbm", "lightgbm-pickle", "onnx", "python")
IRIS_RECORDS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]
IRIS_SPECIES = [0, 2]  # setosa, virginica
IRIS_SCHEMA = infer_input_schema(IRIS_RECORDS)


def species(output: pd.DataFrame) -> list[int]:
    """Class labels from any of the example models' answers."""
    if "prediction_0" in output:  # a native LightGBM booster answers probabilities
        return output.to_numpy().argmax(axis=1).tolist()
    column = "species" if "species" in output else "prediction"
    return output[column].astype(int).tolist()


@pytest.mark.parametrize("name", IRIS_BUNDLES)
def test_every_framework_loads_and_predicts_iris(iris_bundle, name: str) -> None:
    bundle = iris_bundle(name)
    runtime = load_runtime(bundle)
    output = runtime.predict(coerce_frame(IRIS_RECORDS, IRIS_SCHEMA))
    assert isinstance(output, pd.DataFrame)
    assert species(output) == IRIS_SPECIES


@pytest.mark.parametrize("name", ["sklearn", "xgboost", "onnx"])
def test_estimators_answer_in_a_prediction_column(iris_bundle, name: str) -> None:
    output = load_runtime(iris_bundle(name)).predict(coerce_frame(IRIS_RECORDS, IRIS_SCHEMA))
    assert output.columns[0] == "prediction"
    assert len(output) == len(IRIS_RECORDS)


def test_onnx_answers_one_column_per_output(iris_bundle) -> None:
    output = load_runtime(iris_bundle("onnx")).predict(coerce_frame(IRIS_RECORDS, IRIS_SCHEMA))
    assert list(output.columns) == ["prediction", "probabilities"]
    assert len(output["probabilities"][0]) == 3
    assert infer_output_schema(output) == [
        {"name": "prediction", "dtype": "integer"},
        {"name": "probabilities", "dtype": "array"},
    ]


def test_the_qwak_iris_classifier_works_with_fields_in_any_order(iris_bundle) -> None:
    runtime = load_runtime(iris_bundle("python"))
    shuffled = [
        {"sepal_width": 3.5, "sepal_length": 5.1, "petal_width": 0.2, "petal_length": 1.4},
        {"petal_width": 2.3, "petal_length": 5.2, "sepal_width": 3.0, "sepal_length": 6.7},
    ]
    output = runtime.predict(coerce_frame(shuffled, IRIS_SCHEMA))
    assert list(output.columns) == ["species"]
    assert output["species"].tolist() == IRIS_SPECIES


def test_python_runtime_uses_the_built_model_instead_of_building_again(python_bundle) -> None:
    bundle = python_bundle("""
        import pandas as pd
        from pathlib import Path
        from berth import BerthModel

        class Model(BerthModel):
            def build(self):
                with open(Path(__file__).parent / "builds.log", "a") as log:
                    log.write("built\\n")
                self.answer = 42

            def predict(self, df):
                return pd.DataFrame({"answer": [self.answer] * len(df)})
    """)
    save_built_model(build_model(bundle, "model:Model"), bundle)
    output = load_runtime(bundle).predict(coerce_frame(IRIS_RECORDS, IRIS_SCHEMA))
    assert output["answer"].tolist() == [42, 42]
    assert (bundle / "builds.log").read_text().splitlines() == ["built"]


def test_python_runtime_builds_the_class_when_no_built_model_exists(python_bundle) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def build(self):
                self.answer = 7

            def initialize_model(self):
                self.initialized = True

            def predict(self, df):
                return pd.DataFrame({"answer": [self.answer] * len(df)})
    """)
    runtime = load_runtime(bundle)
    assert isinstance(runtime, PythonRuntime)
    assert runtime.model.initialized
    assert runtime.predict(pd.DataFrame({"x": [1.0]}))["answer"].tolist() == [7]


def test_each_bundle_gets_its_own_module_of_the_same_name(python_bundle) -> None:
    source = """
        import pandas as pd

        class Model:
            def predict(self, df):
                return pd.DataFrame({"which": [%r] * len(df)})
    """
    first = load_runtime(python_bundle(source % "first", name="first"))
    second = load_runtime(python_bundle(source % "second", name="second"))
    frame = pd.DataFrame({"x": [1.0]})
    assert first.predict(frame)["which"][0] == "first"
    assert second.predict(frame)["which"][0] == "second"


def test_python_runtime_names_the_type_when_predict_returns_no_dataframe(python_bundle) -> None:
    bundle = python_bundle("""
        class Model:
            def predict(self, df):
                return [1, 2]
    """)
    runtime = load_runtime(bundle)
    with pytest.raises(PredictionError, match=r"returned builtins\.list; it must return a pandas DataFrame"):
        runtime.predict(pd.DataFrame({"x": [1.0, 2.0]}))


def test_python_runtime_refuses_an_answer_with_the_wrong_number_of_rows(python_bundle) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def predict(self, df):
                return pd.DataFrame({"y": [1]})
    """)
    with pytest.raises(PredictionError, match="returned 1 rows for 2"):
        load_runtime(bundle).predict(pd.DataFrame({"x": [1.0, 2.0]}))


def test_it_accepts_qwaks_api_decorator(python_bundle) -> None:
    bundle = python_bundle("""
        import pandas as pd
        from berth import BerthModel
        from berth.model import api

        class Model(BerthModel):
            @api()
            def predict(self, df):
                return pd.DataFrame({"y": df["x"] * 2})
    """)
    assert load_runtime(bundle).predict(pd.DataFrame({"x": [1.0]}))["y"].tolist() == [2.0]


def test_it_explains_a_model_file_that_cannot_be_loaded(iris_bundle) -> None:
    bundle = iris_bundle("sklearn")
    (bundle / "model.joblib").write_bytes(b"this is not a pickle")
    with pytest.raises(ModelLoadError, match=r"could not load model\.joblib \(sklearn\)") as raised:
        load_runtime(bundle)
    assert raised.value.__cause__ is not None


def test_it_refuses_a_pickle_without_a_predict_method(iris_bundle) -> None:
    bundle = iris_bundle("sklearn")
    joblib.dump({"not": "a model"}, bundle / "model.joblib")
    with pytest.raises(ModelLoadError, match="holds a dict, which has no predict"):
        load_runtime(bundle)


def test_a_runtime_reads_berth_yaml_itself_when_given_no_spec(iris_bundle) -> None:
    bundle = iris_bundle("sklearn")
    assert load_runtime(bundle, read_bundle(bundle)).spec == load_runtime(bundle).spec


# --- input schemas -------------------------------------------------------------------

MIXED_RECORDS = [{"age": 41, "income": 5200.5, "city": "Lyon", "member": True}]
MIXED_SCHEMA = Schema.from_list(infer_input_schema(MIXED_RECORDS))


def test_it_infers_an_ordered_schema_from_example_records() -> None:
    assert MIXED_SCHEMA.to_list() == [
        {"name": "age", "dtype": "integer", "nullable": False},
        {"name": "income", "dtype": "number", "nullable": False},
        {"name": "city", "dtype": "string", "nullable": True},
        {"name": "member", "dtype": "boolean", "nullable": False},
    ]


def test_a_field_null_in_the_example_is_nullable_and_an_integer_one_becomes_a_number() -> None:
    schema = infer_input_schema([{"age": 41, "income": None}, {"age": None, "income": 2.5}])
    assert schema == [{"name": "age", "dtype": "number", "nullable": True},
                      {"name": "income", "dtype": "number", "nullable": True}]


def test_what_berth_yaml_declares_refines_the_inferred_schema() -> None:
    declared: dict[str, dict[str, Any]] = {"income": {"nullable": True, "model_dtype": "float32"}, "city": {"nullable": False}}
    assert infer_input_schema(MIXED_RECORDS, declared)[1:3] == [
        {"name": "income", "dtype": "number", "nullable": True, "model_dtype": "float32"},
        {"name": "city", "dtype": "string", "nullable": False},
    ]


@pytest.mark.parametrize(("declared", "message"), [
    ({"zip": {"nullable": True}}, "declares field 'zip', which example_input does not have"),
    ({"member": {"nullable": True}}, "field 'member' is true/false and can't be null"),
    ({"city": {"model_dtype": "float32"}}, "field 'city' is string, so it can't have a model_dtype"),
])
def test_a_declaration_the_schema_cannot_take_is_a_bundle_error(declared: dict, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        infer_input_schema(MIXED_RECORDS, declared)


def test_it_orders_columns_and_sets_dtypes_as_the_schema_says() -> None:
    request = [{"member": False, "city": "Oslo", "income": 12, "age": 30.0}]
    frame = coerce_frame(request, MIXED_SCHEMA)
    assert list(frame.columns) == ["age", "income", "city", "member"]
    assert frame.dtypes["age"] == np.int64
    assert frame.dtypes["income"] == np.float64
    assert frame.iloc[0].tolist() == [30, 12.0, "Oslo", False]


def test_it_coerces_a_dataframe_request_too() -> None:
    frame = coerce_frame(pd.DataFrame(MIXED_RECORDS)[["city", "age", "member", "income"]], MIXED_SCHEMA)
    assert list(frame.columns) == MIXED_SCHEMA.names


@pytest.mark.parametrize(
    ("request_record", "message"),
    [
        ({"age": 1, "income": 2.0, "city": "x"}, "missing field(s) member"),
        ({"age": 1, "income": 2.0, "city": "x", "member": True, "zip": 1}, "unknown field(s) zip"),
        ({"age": 1.5, "income": 2.0, "city": "x", "member": True}, "field 'age' must be an integer; record 1 has 1.5"),
        ({"age": 1, "income": "2.0", "city": "x", "member": True}, "field 'income' must be a number"),
        ({"age": 1, "income": 2.0, "city": 3, "member": True}, "field 'city' must be a string"),
        ({"age": 1, "income": 2.0, "city": "x", "member": 1}, "field 'member' must be true or false"),
        ({"age": 1, "income": [2.0], "city": "x", "member": True}, "field 'income' must hold one"),
    ],
)
def test_it_names_the_missing_extra_or_mistyped_field(request_record: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        coerce_frame([request_record], MIXED_SCHEMA)
    assert raised.value.status == 422


def test_it_turns_null_numbers_of_a_nullable_field_into_nan() -> None:
    schema = Schema.from_list(infer_input_schema(MIXED_RECORDS, {"income": {"nullable": True}}))
    frame = coerce_frame([{"age": 1, "income": None, "city": None, "member": True}], schema)
    assert np.isnan(frame["income"][0])


def test_it_refuses_a_null_number_of_a_field_not_nullable() -> None:
    with pytest.raises(SchemaError, match="field 'income' is null in record 2; it is not nullable"):
        coerce_frame([MIXED_RECORDS[0], {**MIXED_RECORDS[0], "income": None}], MIXED_SCHEMA)


def test_it_echoes_only_the_start_of_a_huge_mistyped_value() -> None:
    with pytest.raises(SchemaError) as raised:
        coerce_frame([{**MIXED_RECORDS[0], "income": "9" * 5_000_000}], MIXED_SCHEMA)
    assert len(raised.value.message) < 300
    assert raised.value.message.endswith("… (5000002 characters)")  # repr() adds the quotes
