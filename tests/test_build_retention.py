"""Failed builds are kept BERTH_FAILED_BUILD_RETENTION_DAYS, then deleted with their files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.builds.retention import prune_failed_builds
from deployments.models import Build, BuildStatus

pytestmark = pytest.mark.django_db


def a_build(model, status: str, finished_days_ago: float) -> Build:
    build = Build.objects.create(model=model, source_name="iris.tar.gz", status=status,
                                 finished_at=timezone.now() - timedelta(days=finished_days_ago))
    build.source_path.parent.mkdir(parents=True)
    build.source_path.write_bytes(b"archive")
    return build


def test_a_failed_build_past_the_retention_goes_with_its_files(iris_model, settings):
    settings.BERTH_FAILED_BUILD_RETENTION_DAYS = 14
    old_failure = a_build(iris_model, BuildStatus.FAILED, 15)
    recent_failure = a_build(iris_model, BuildStatus.FAILED, 13)
    old_ready = a_build(iris_model, BuildStatus.READY, 300)

    assert prune_failed_builds() == 1

    assert set(Build.objects.values_list("pk", flat=True)) == {recent_failure.pk, old_ready.pk}
    assert not old_failure.storage_dir.exists()
    assert recent_failure.source_path.exists()
    assert old_ready.source_path.exists()


def test_a_retention_of_zero_keeps_failed_builds(iris_model, settings):
    settings.BERTH_FAILED_BUILD_RETENTION_DAYS = 0
    a_build(iris_model, BuildStatus.FAILED, 1000)

    assert prune_failed_builds() == 0
    assert Build.objects.count() == 1
