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

from console.locks import lock_ttl_s
from deployments.builds.upload import store_build
from deployments.models import Build, BuildStatus
from deployments.tasks import reconcile
from tests.fixtures.builds import IRIS_CLASSIFIER, IRIS_YAML, python_bundle_files, tar_gz, upload, wait_for_build

pytestmark = pytest.mark.django_db(transaction=True)


def held_bundle() -> bytes:
    """An iris model whose build() waits until the test drops a `go` file into its (read-only) bundle."""
    code = IRIS_CLASSIFIER.replace(
        "    def build(self):\n",
        "    def build(self):\n"
        "        import os, time\n"
        "        while not os.path.exists('go'):\n"
        "            time.sleep(0.1)\n",
    )
    return tar_gz(python_bundle_files(model_code=code))


def validation_process_of(build: Build, not_pids: set[int] | frozenset[int] = frozenset()) -> psutil.Process:
    """The sandbox (bwrap) validating `build`: its command line binds the bundle directory."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            if str(build.bundle_dir) in " ".join(proc.info["cmdline"] or []) and proc.pid not in not_pids:
                return proc
        time.sleep(0.1)
    raise AssertionError("no validation process found")


def test_a_build_whose_worker_process_is_killed_is_retried_and_becomes_ready(celery_worker, iris_model, alice):
    build = store_build(iris_model, upload("held.tar.gz", held_bundle()), "", None, alice)
    first = validation_process_of(build)
    first_attempt = [first, *first.children(recursive=True)]  # bwrap forks a second bwrap, same command line

    os.kill(first.parent().pid, signal.SIGKILL)  # the pool process running the task
    psutil.wait_procs(first_attempt, timeout=60)  # its sandbox dies with it; the retry unpacks the bundle anew
    validation_process_of(build, not_pids={p.pid for p in first_attempt})  # the retry's sandbox
    (build.bundle_dir / "go").touch()

    build = wait_for_build(build, timeout_s=90)
    assert build.status == BuildStatus.READY, build.error
    assert build.attempts == 2


def test_a_validation_that_outlasts_its_lock_ttl_three_times_runs_once(celery_worker, iris_model, alice):
    build = store_build(iris_model, upload("held.tar.gz", held_bundle()), "", None, alice)
    first = validation_process_of(build)

    until = time.monotonic() + 3 * lock_ttl_s() + 2
    while time.monotonic() < until:
        reconcile()  # what beat runs every minute: re-queues a build whose lock expired
        time.sleep(1)
    (build.bundle_dir / "go").touch()

    build = wait_for_build(build, timeout_s=90)
    assert build.status == BuildStatus.READY, build.error
    assert build.attempts == 1
    assert first.is_running() is False
    assert build.log.count("running model:IrisClassifier.build()") == 1


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
