"""Celery tasks of the monitoring app."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="monitoring.tasks.scrape_metrics", expires=30)
def scrape_metrics() -> int:
    """Scrape every serving deployment's replicas, roll finished steps up, drop expired points.

    Scheduled every BERTH_METRICS_SCRAPE_S seconds (console/celery.py). How many points it stored."""
    from django.conf import settings

    from deployments.models import Deployment
    from monitoring.collect import collect
    from monitoring.rollup import prune, roll_up

    if settings.PROMETHEUS_URL:
        return 0  # Prometheus scrapes the replicas, and charts read from it (monitoring.sources)
    stored = 0
    for deployment in Deployment.objects.serving():
        try:
            stored += len(collect(deployment, timezone.now()))
        except Exception:  # one deployment's trouble must not stop the others' metrics
            log.exception("scraping the metrics of deployment %s failed", deployment.pk)
    now = timezone.now()
    stored += len(roll_up(now))
    prune(now)
    return stored
