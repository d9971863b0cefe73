"""The Celery app; tasks live in each Django app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["deployments.logs"])  # deployments/logs/tasks.py
app.autodiscover_tasks(["deployments.endpoint_keys"])  # deployments/endpoint_keys/tasks.py


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.BERTH_RECONCILE_INTERVAL_S,
        sender.signature("deployments.tasks.reconcile"),
        name="reconcile stuck builds and rollouts",
    )
    sender.add_periodic_task(
        settings.BERTH_HEALTH_INTERVAL_S,
        sender.signature("deployments.tasks.refresh_health"),
        name="refresh deployment health",
    )
    sender.add_periodic_task(
        3600,
        sender.signature("deployments.tasks.prune_failed_builds"),
        name="delete failed builds past their retention",
    )
    sender.add_periodic_task(
        3600,
        sender.signature("deployments.logs.tasks.prune_logs"),
        name="delete log files past BERTH_LOG_RETENTION_DAYS",
    )
    sender.add_periodic_task(
        settings.BERTH_METRICS_SCRAPE_S,
        sender.signature("monitoring.tasks.scrape_metrics"),
        name="scrape, roll up and prune deployment metrics",
    )
    sender.add_periodic_task(
        60,
        sender.signature("deployments.endpoint_keys.tasks.note_key_uses"),
        name="learn endpoint keys' last use from the gateways",
    )
