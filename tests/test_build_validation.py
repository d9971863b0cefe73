"""Uploaded builds are validated by a real Celery worker running the user's code in a subprocess."""

from __future__ import annotations

import pytest

from deployments.builds.upload import store_build
from deployments.models import BuildStatus
from tests.fixtures.builds import IRIS_YAML, python_bundle_files, tar_gz, upload, wait_for_build
from tests.fixtures.processes import WORKER_BUILD_MEMORY_MB, WORKER_BUILD_TIMEOUT_S

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_qwak_iris_classifier_becomes_ready_with_schema_and_timings(celery_worker, iris_model, alice,
                                                                         iris_python_archive):
    build = store_build(iris_model, upload("iris.tar.gz", iris_python_archive), "", None, alice)
    assert build.status == BuildStatus.BUILDING

    build = wait_for_build(build)

    assert build.status == BuildStatus.READY, build.error
    assert build.framework == "python"
    assert build.input_schema is not None
    assert build.output_schema is not None
    assert [field["name"] for field in build.input_schema] == ["sepal_length", "sepal_width", "petal_length",
                                                                "petal_width"]
    assert [field["name"] for field in build.output_schema] == ["species"]
    assert build.example_output == [{"species": 0}]
    assert build.timings["load_s"] >= 0
    assert build.timings["predict_s"] > 0
    assert (build.bundle_dir / ".berth" / "model.pkl").exists()


def test_a_model_that_raises_in_predict_fails_with_the_reason(celery_worker, iris_model, alice):
    broken = python_bundle_files(model_code=(
        "from berth import BerthModel\n"
        "class IrisClassifier(BerthModel):\n"
        "    def predict(self, df):\n"
        "        raise ValueError('petal_width must be positive')\n"
    ))
    build = wait_for_build(store_build(iris_model, upload("broken.tar.gz", tar_gz(broken)), "", None, alice))

    assert build.status == BuildStatus.FAILED
    assert "predict" in build.error
    assert "petal_width must be positive" in build.error
    assert "Traceback" in build.log
    assert not build.log.splitlines()[-1].startswith('{"ok"')  # the report line is Berth's, not the log's
    assert "serving/validate.py" in build.log  # the full log keeps Berth's frames…
    assert "serving/validate.py" not in build.author_log  # …the author's view starts at their code
    assert 'File "/bundle/model.py", line 4, in predict' in build.author_log


def test_a_model_that_never_returns_is_stopped_at_the_time_limit(celery_worker, iris_model, alice):
    endless = python_bundle_files(model_code=(
        "import time\nfrom berth import BerthModel\n"
        "class IrisClassifier(BerthModel):\n"
        "    def build(self):\n"
        "        time.sleep(3600)\n"
        "    def predict(self, df):\n"
        "        return df\n"
    ), manifest=IRIS_YAML.replace("requirements:\n  - scikit-learn\n", ""))
    build = store_build(iris_model, upload("endless.tar.gz", tar_gz(endless)), "", None, alice)

    build = wait_for_build(build, timeout_s=WORKER_BUILD_TIMEOUT_S + 60)

    assert build.status == BuildStatus.FAILED
    assert f"did not finish within {WORKER_BUILD_TIMEOUT_S} s" in build.error


def test_a_model_that_allocates_past_the_memory_limit_fails_saying_so(celery_worker, iris_model, alice):
    greedy = python_bundle_files(model_code=(
        "import numpy as np\nfrom berth import BerthModel\n"
        "class IrisClassifier(BerthModel):\n"
        "    def build(self):\n"
        f"        self.blob = np.ones({WORKER_BUILD_MEMORY_MB * 2} * 1024 * 1024, dtype=np.uint8)\n"
        "    def predict(self, df):\n"
        "        return df\n"
    ), manifest=IRIS_YAML.replace("requirements:\n  - scikit-learn\n", ""))
    build = store_build(iris_model, upload("greedy.tar.gz", tar_gz(greedy)), "", None, alice)

    build = wait_for_build(build, timeout_s=60)

    assert build.status == BuildStatus.FAILED
    assert "memory" in build.error.lower()
    assert f"{WORKER_BUILD_MEMORY_MB} MB" in build.error
