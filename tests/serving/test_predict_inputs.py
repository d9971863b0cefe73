"""What a model server answers for inputs its schema takes but its model can't, and for hostile
bodies: real server processes over HTTP, with an iris forest trained from scikit-learn's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import yaml

from tests.serving.test_server_http import ServerProcess, post

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BIG = 5_000_000

MISSING_AWARE_MODEL = '''
import pandas as pd


class Model:
    """Says which x were missing; passes n and name through."""

    def predict(self, df):
        return pd.DataFrame({"x_missing": df["x"].isna(), "n": df["n"], "name": df["name"]})
'''


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def forest(tmp: Path, examples_train: ModuleType) -> Iterator[ServerProcess]:
    """The iris RandomForest bundle of examples/train.py: scikit-learn trees compute in float32."""
    server = ServerProcess(examples_train.write_sklearn_bundle(tmp / "forest"), tmp, "--workers", "1")
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="module")
def missing_aware(tmp: Path) -> Iterator[ServerProcess]:
    """A python model whose berth.yaml declares x nullable."""
    bundle = tmp / "missing_aware"
    bundle.mkdir()
    (bundle / "model.py").write_text(MISSING_AWARE_MODEL)
    manifest = {"framework": "python", "entry_point": "model:Model",
                "example_input": [{"x": 1.5, "n": 2, "name": "a"}], "input_schema": {"x": {"nullable": True}}}
    (bundle / "berth.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    server = ServerProcess(bundle, tmp, "--workers", "1")
    yield server.wait_ready()
    server.stop()


def refused(server: ServerProcess, body: object, status: int = 422) -> str:
    """The error message of a refused request, after checking its status; the server still answers."""
    response = post(server, body)
    assert response.status_code == status, response.text[:500]
    assert response.json()["status"] == status
    return str(response.json()["error"])


# --- what the model's real input can hold ----------------------------------------------------

def test_a_null_for_a_number_that_is_not_nullable_is_a_422_naming_field_and_row(forest: ServerProcess) -> None:
    error = refused(forest, [SETOSA, {**SETOSA, "petal_width": None}])
    assert error.startswith("field 'petal_width' is null in row 2; it is not nullable")
    assert "input_schema in berth.yaml" in error
    assert post(forest, SETOSA).json() == [{"prediction": 0}]


@pytest.mark.parametrize("value", [1e308, -3.5e38])
def test_a_number_a_float32_model_cannot_hold_is_a_422_not_a_500(forest: ServerProcess, value: float) -> None:
    error = refused(forest, {"columns": FEATURES, "data": [[5.1, 3.5, 1.4, 0.2], [5.1, value, 1.4, 0.2]]})
    assert error.startswith(f"field 'sepal_width' is out of range for float32 in row 2: {value!r}")
    assert post(forest, {**SETOSA, "sepal_width": 3.4e38}).status_code == 200  # within float32


def test_the_schema_in_metadata_says_which_fields_may_be_null(missing_aware: ServerProcess) -> None:
    schema = httpx.get(missing_aware.url("/v1/metadata"), timeout=10).json()["input_schema"]
    assert [(field["name"], field["nullable"]) for field in schema] == [("x", True), ("n", False), ("name", True)]


def test_a_declared_nullable_number_reaches_the_model_as_nan(missing_aware: ServerProcess) -> None:
    body = [{"x": None, "n": 1, "name": "a"}, {"x": 2.5, "n": 2, "name": None}]
    assert post(missing_aware, body).json() == [
        {"x_missing": True, "n": 1, "name": "a"},
        {"x_missing": False, "n": 2, "name": None},
    ]


def test_an_integer_beyond_int64_is_a_422_not_a_500(missing_aware: ServerProcess) -> None:
    error = refused(missing_aware, [{"x": 1.0, "n": 1, "name": "a"}, {"x": 1.0, "n": 2**63, "name": "b"}])
    assert error.startswith("field 'n' is out of range for int64 in row 2: 9223372036854775808")


# --- hostile bodies ---------------------------------------------------------------------------

def test_a_huge_mistyped_value_is_echoed_only_in_part(forest: ServerProcess) -> None:
    response = post(forest, {**SETOSA, "petal_width": "9" * BIG})
    assert response.status_code == 422
    assert len(response.content) < 500
    assert response.json()["error"].endswith(f"… ({BIG + 2} characters)")  # the JSON string, quotes included


def test_a_huge_unknown_field_name_is_echoed_only_in_part(forest: ServerProcess) -> None:
    error = refused(forest, {**SETOSA, "x" * BIG: 1})
    assert len(error) < 500
    assert f"… ({BIG} characters)" in error


def test_a_column_named_twice_in_the_split_format_is_a_422_naming_it(forest: ServerProcess) -> None:
    body = {"columns": ["sepal_length", *FEATURES], "data": [[9.9, 5.1, 3.5, 1.4, 0.2]]}
    assert refused(forest, body) == "field 'sepal_length' is named twice in \"columns\"; name each field once"


def test_a_split_column_that_is_not_a_name_is_a_422(forest: ServerProcess) -> None:
    body = {"columns": [*FEATURES, ["sepal_length"]], "data": [[5.1, 3.5, 1.4, 0.2, 1]]}
    assert refused(forest, body) == '"columns" must hold field names (strings); it holds a list'


def test_a_body_that_is_not_utf8_gets_a_400_saying_so_and_where(forest: ServerProcess) -> None:
    error = refused(forest, b'[{"sepal_length": "\xff"}]', status=400)
    assert error == ("the request body is not valid UTF-8 (byte 0xff at position 19); "
                     "send JSON encoded as UTF-8")
    assert post(forest, SETOSA).status_code == 200


def test_a_number_beyond_any_double_is_a_400_saying_so_not_a_500(forest: ServerProcess) -> None:
    error = refused(forest, b'{"sepal_length": 5.1, "sepal_width": 1e400, "petal_length": 1.4, "petal_width": 0.2}',
                    status=400)
    assert error.startswith("request body is not valid JSON: number is infinity when parsed as double")
