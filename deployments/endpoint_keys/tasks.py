"""Celery tasks of endpoint keys: tell gateways about a revocation, learn keys' last use."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="deployments.endpoint_keys.tasks.refresh_keys", acks_late=True, autoretry_for=(Exception,),
             retry_backoff=2, max_retries=5)
def refresh_keys(project_id: int) -> int:
    """Rewrite the accepted keys into the routes of the project's deployments that require keys,
    after a revocation; how many gateways were told. Idempotent: it writes what the database says."""
    from deployments.backends.base import get_backend
    from deployments.models import Deployment

    backend = get_backend()
    refreshed = 0
    for deployment in Deployment.objects.serving().filter(model__project_id=project_id).select_related("model"):
        refreshed += backend.refresh_endpoint_keys(deployment)
    log.info("endpoint keys of project %s refreshed in %s gateway(s)", project_id, refreshed)
    return refreshed


@shared_task(name="deployments.endpoint_keys.tasks.note_key_uses", expires=50)
def note_key_uses() -> int:
    """Scheduled every minute (console/celery.py): each key's last use, from the gateways' /metrics."""
    from deployments.endpoint_keys.last_used import note_uses

    return note_uses()
