"""The age limit on retained logs: rotated files older than BERTH_LOG_RETENTION_DAYS are deleted hourly.

supervisord bounds each log by size (BERTH_LOG_MAX_BYTES × BERTH_LOG_BACKUPS); this bounds it by age,
and removes the logs of replicas that no longer run once they are that old.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from deployments.backends.base import BackendError, get_backend
from deployments.models import Deployment

log = logging.getLogger(__name__)


@shared_task(name="deployments.logs.tasks.prune_logs")
def prune_logs() -> int:
    """Delete every deployment's log files past the age limit; return how many."""
    backend, older_than_s = get_backend(), settings.BERTH_LOG_RETENTION_DAYS * 86400
    removed = 0
    for deployment in Deployment.objects.all():
        try:
            removed += backend.prune_logs(deployment, older_than_s)
        except (BackendError, OSError) as exc:
            log.warning("deployment %s: old logs not pruned: %s", deployment.pk, exc)
    if removed:
        log.info("deleted %d log files older than %d days", removed, settings.BERTH_LOG_RETENTION_DAYS)
    return removed
