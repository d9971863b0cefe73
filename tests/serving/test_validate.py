"""`python -m serving.validate` end to end, as a real subprocess, like the build task runs it."""

from __future__ import annotations

import json
import resource
import subprocess
import time

import pytest

GOOD_MODEL = """
    import pandas as pd
    from berth import BerthModel

    class Model(BerthModel):
        def predict(self, df):
            return pd.DataFrame({"total": df.sum(axis=1)})
"""


def limit_memory_to_1500_mb() -> None:
    limit = 1500 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def assert_failed(validation, message: str) -> str:
    assert validation.returncode == 1, validation.stderr
    report = validation.report
    assert report["ok"] is False
    assert message in report["error"]
    return report["error"]


def test_it_validates_the_iris_classifier_and_reports_schemas_and_timings(iris_bundle, run_validate) -> None:
    bundle = iris_bundle("python")
    validation = run_validate(bundle)
    assert validation.returncode == 0, validation.stderr
    report = validation.report
    assert report["ok"] is True
    assert report["framework"] == "python"
    assert [field["name"] for field in report["input_schema"]] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width",
    ]
    assert {field["dtype"] for field in report["input_schema"]} == {"number"}
    assert report["output_schema"] == [{"name": "species", "dtype": "integer"}]
    assert report["example_output"] == [{"species": 0}, {"species": 2}]
    assert set(report["timings"]) == {"build_s", "load_s", "first_predict_s", "predict_s"}
    assert all(seconds >= 0 for seconds in report["timings"].values())
    assert json.loads((bundle / ".berth" / "report.json").read_text()) == report
    assert (bundle / ".berth" / "model.pkl").is_file()
    assert "running model:IrisClassifier.build()" in validation.stderr


NAN_AWARE_MODEL = """
    import pandas as pd

    class Model:
        def predict(self, df):
            if df["x"].isna().any() and not NAN_OK:
                raise ValueError("x is missing")
            return pd.DataFrame({"x": df["x"].fillna(0)})
"""


def test_a_field_declared_nullable_is_recorded_once_the_model_takes_a_null_there(python_bundle, run_validate) -> None:
    bundle = python_bundle("NAN_OK = True\n" + NAN_AWARE_MODEL.replace("\n    ", "\n"),
                           example_input=[{"x": 1.5, "n": 1}], input_schema={"x": {"nullable": True}})
    validation = run_validate(bundle)
    assert validation.returncode == 0, validation.stderr
    assert validation.report["input_schema"] == [{"name": "x", "dtype": "number", "nullable": True},
                                                 {"name": "n", "dtype": "integer", "nullable": False}]


def test_a_field_declared_nullable_fails_the_build_when_the_model_raises_on_null(python_bundle, run_validate) -> None:
    bundle = python_bundle("NAN_OK = False\n" + NAN_AWARE_MODEL.replace("\n    ", "\n"),
                           example_input=[{"x": 1.5, "n": 1}], input_schema={"x": {"nullable": True}})
    error = assert_failed(run_validate(bundle), "predict with null x (declared nullable in input_schema) failed")
    assert "ValueError: x is missing" in error


@pytest.mark.parametrize("name", ["sklearn", "xgboost", "lightgbm", "onnx"])
def test_it_validates_every_framework(iris_bundle, run_validate, name: str) -> None:
    validation = run_validate(iris_bundle(name))
    assert validation.returncode == 0, validation.stderr
    assert validation.report["ok"] is True
    assert validation.report["timings"]["build_s"] is None
    assert len(validation.report["example_output"]) == 2


def test_the_report_is_the_only_line_on_stdout_even_when_the_model_prints(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        import os
        import pandas as pd

        class Model:
            def build(self):
                print("training…")
                os.write(1, b"straight to fd 1\\n")

            def predict(self, df):
                print("predicting", len(df))
                return pd.DataFrame({"y": [1] * len(df)})
    """)
    validation = run_validate(bundle)
    assert validation.stdout.count("\n") == 1
    assert validation.report["ok"] is True
    assert "training…" in validation.stderr
    assert "straight to fd 1" in validation.stderr


def test_it_reports_a_missing_berth_yaml(tmp_path, run_validate) -> None:
    assert_failed(run_validate(tmp_path), "berth.yaml not found")


def test_it_reports_invalid_yaml_with_its_line(python_bundle, run_validate) -> None:
    bundle = python_bundle(GOOD_MODEL)
    (bundle / "berth.yaml").write_text("framework: python\nentry_point: [model:Model\n")
    assert_failed(run_validate(bundle), "berth.yaml is not valid YAML (line 3")


def test_it_reports_an_unknown_framework(python_bundle, run_validate) -> None:
    bundle = python_bundle(GOOD_MODEL)
    (bundle / "berth.yaml").write_text("framework: pytorch\n")
    assert_failed(run_validate(bundle), "unknown framework 'pytorch'; use one of sklearn, xgboost")


def test_it_reports_a_requirement_the_serving_environment_lacks(python_bundle, run_validate) -> None:
    bundle = python_bundle(GOOD_MODEL, requirements=["pandas>=999"])
    assert_failed(run_validate(bundle), "requirement pandas>=999 is not installed in the serving environment (found")


def test_it_reports_where_build_failed(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        class Model:
            def build(self):
                return 1 / 0

            def predict(self, df):
                return df
    """)
    error = assert_failed(run_validate(bundle), "build failed: ZeroDivisionError: division by zero")
    assert error.endswith("(model.py:4 in build)")
    assert not (bundle / ".berth" / "model.pkl").exists()


def test_it_reports_a_model_that_raises_on_load(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        import pandas as pd

        class Model:
            def initialize_model(self):
                raise RuntimeError("weights server unreachable")

            def predict(self, df):
                return df
    """)
    assert_failed(run_validate(bundle), "load failed: could not load model:Model (python): RuntimeError: weights")


def test_it_reports_a_model_file_that_does_not_load(iris_bundle, run_validate) -> None:
    bundle = iris_bundle("xgboost")
    (bundle / "model.json").write_text("{not json")
    assert_failed(run_validate(bundle), "load failed: could not load model.json (xgboost)")


def test_it_reports_a_model_that_raises_in_predict(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        class Model:
            def predict(self, df):
                raise ValueError("expected 5 features")
    """)
    error = assert_failed(run_validate(bundle), "predict failed: ValueError: expected 5 features")
    assert "(model.py:4 in predict)" in error


def test_it_reports_a_predict_that_returns_no_dataframe(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        class Model:
            def predict(self, df):
                return df.to_numpy()
    """)
    assert_failed(run_validate(bundle), "predict failed: Model.predict() returned numpy.ndarray; it must return")


def test_it_reports_a_built_model_that_cannot_be_pickled(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        import threading

        class Model:
            def build(self):
                self.lock = threading.Lock()

            def predict(self, df):
                return df
    """)
    assert_failed(run_validate(bundle), "saving the built model failed: the trained Model can't be pickled (TypeError: cannot pickle")


def test_a_model_that_never_returns_is_killed_by_the_parent_timeout(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        import time

        class Model:
            def build(self):
                while True:
                    time.sleep(1)

            def predict(self, df):
                return df
    """)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_validate(bundle, timeout=8)
    assert time.monotonic() - started < 20
    assert not (bundle / ".berth" / "report.json").exists()


def test_a_model_past_the_memory_limit_is_reported_as_such(python_bundle, run_validate) -> None:
    bundle = python_bundle("""
        import numpy as np

        class Model:
            def build(self):
                self.weights = np.ones(4 * 1024**3, dtype=np.uint8)

            def predict(self, df):
                return df
    """)
    validation = run_validate(bundle, preexec_fn=limit_memory_to_1500_mb)
    error = assert_failed(validation, "build failed: the model exceeded the memory limit")
    assert "BERTH_BUILD_MEMORY_MB" in error
    assert "MemoryError" in validation.stderr
