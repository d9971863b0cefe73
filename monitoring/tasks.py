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
    fresh: set[int] = set()
    for deployment in Deployment.objects.serving():
        try:
            points = collect(deployment, timezone.now())
        except Exception:  # one deployment's trouble must not stop the others' metrics
            log.exception("scraping the metrics of deployment %s failed", deployment.pk)
            continue
        stored += len(points)
        fresh |= {point.deployment_id for point in points}
    now = timezone.now()
    rolled = roll_up(now)
    stored += len(rolled)
    prune(now)
    for deployment_pk in fresh | {point.deployment_id for point in rolled}:
        announce_points(deployment_pk)
    return stored


def announce_points(deployment_pk: int) -> None:
    """Tell the deployment's open pages that new points are stored: their charts fetch them (over the
    deployment's live socket, deployments.consumers.deployments). Best effort: a reload shows them anyway."""
    from console.live import publish_change
    from deployments.rollouts.events import events_group

    try:
        publish_change(events_group(deployment_pk), "metrics", deployment_pk)
    except Exception:
        log.warning("telling deployment %s's pages about new metric points failed", deployment_pk, exc_info=True)
