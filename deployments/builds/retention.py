"""How long a failed build is kept: its row, log and files go after BERTH_FAILED_BUILD_RETENTION_DAYS."""

from __future__ import annotations

import shutil
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from deployments.models import Build, BuildStatus


def prune_failed_builds() -> int:
    """Delete failed builds that finished longer ago than the retention; how many went (0: kept forever)."""
    days = settings.BERTH_FAILED_BUILD_RETENTION_DAYS
    if days == 0:
        return 0
    expired = Build.objects.filter(status=BuildStatus.FAILED, finished_at__lt=timezone.now() - timedelta(days=days))
    count = 0
    for build in expired:
        storage = build.storage_dir
        build.delete()
        shutil.rmtree(storage, ignore_errors=True)
        count += 1
    return count
