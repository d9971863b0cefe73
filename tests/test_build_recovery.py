"""A worker that dies mid-validation never leaves a build `building` forever."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from deployments.builds.upload import store_build
from deployments.models import Build, BuildStatus
from deployments.tasks import reconcile
from tests.fixtures.builds import IRIS_CLASSIFIER, IRIS_YAML, python_bundle_files, tar_gz, upload, wait_for_build

pytestmark = pytest.mark.django_db(transaction=True)


def slow_first_attempt_bundle(marker) -> bytes:
    """An iris model whose first build() hangs (after leaving a marker) and whose retry is quick."""
    code = IRIS_CLASSIFIER.replace(
        "    def build(self):\n",
        "    def build(self):\n"
        f"        import os, time\n"
        f"        if not os.path.exists({str(marker)!r}):\n"
        f"            open({str(marker)!r}, 'w').close()\n"
        f"            time.sleep(600)\n",
    )
    return tar_gz(python_bundle_files(model_code=code))


def validation_process_of(build: Build) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        if str(build.bundle_dir) in " ".join(proc.info["cmdline"] or []):
            return proc
    raise AssertionError("no validation process found")


def test_a_build_whose_worker_process_is_killed_is_retried_and_becomes_ready(celery_worker, iris_model, alice,
                                                                              tmp_path):
    marker = tmp_path / "first-attempt-started"
    build = store_build(iris_model, upload("slow.tar.gz", slow_first_attempt_bundle(marker)), "", None, alice)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "validation never started"
        time.sleep(0.1)

    pool_process = validation_process_of(build).parent()
    os.kill(pool_process.pid, signal.SIGKILL)

    build = wait_for_build(build, timeout_s=90)
    assert build.status == BuildStatus.READY, build.error
    assert build.attempts == 2


def _interrupted_build(iris_model, attempts: int) -> Build:
    """A build row as a dead worker leaves it: started, unlocked, still `building`."""
    build = Build(model=iris_model, source_name="iris.tar.gz", attempts=attempts,
                  started_at=timezone.now() - timedelta(minutes=30))
    build.source_path.parent.mkdir(parents=True)
    build.source_path.write_bytes(tar_gz(python_bundle_files(manifest=IRIS_YAML)))
    build.save()
    return build


def test_reconcile_requeues_a_build_left_building_by_a_dead_worker(celery_worker, iris_model):
    build = _interrupted_build(iris_model, attempts=1)

    reconcile()

    build = wait_for_build(build)
    assert build.status == BuildStatus.READY, build.error


def test_reconcile_fails_a_build_interrupted_too_often_and_says_why(celery_worker, iris_model, settings):
    build = _interrupted_build(iris_model, attempts=settings.BERTH_BUILD_MAX_ATTEMPTS)

    reconcile()

    build = wait_for_build(build)
    assert build.status == BuildStatus.FAILED
    assert "interrupted" in build.error
    assert "upload the build again" in build.error


def test_an_upload_that_cannot_be_stored_leaves_no_row_and_no_file(iris_model, alice, settings):
    class BrokenUpload(SimpleUploadedFile):
        def chunks(self, chunk_size=None):
            yield b"partial bytes"
            raise OSError("disk full")

    builds_dir = settings.DATA_DIR / "builds"
    before = set(builds_dir.glob("*")) if builds_dir.exists() else set()

    with pytest.raises(OSError, match="disk full"):
        store_build(iris_model, BrokenUpload("iris.tar.gz", b""), "", None, alice)

    assert Build.objects.count() == 0
    assert set(builds_dir.glob("*")) == before
