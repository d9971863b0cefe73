"""Logging filters that keep the console's logs readable."""

from __future__ import annotations

import logging

# Periodic tasks that run every few seconds; a line each time would bury everything else.
ROUTINE_TASKS = ("deployments.tasks.refresh_health", "deployments.tasks.reconcile", "monitoring.tasks.scrape_metrics")


class QuietRoutineTasks(logging.Filter):
    """Drop Celery's 'received' and 'succeeded' lines for routine periodic tasks (failures still show)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(task in message for task in ROUTINE_TASKS)
