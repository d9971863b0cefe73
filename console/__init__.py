"""The Berth console: Django project, auth, API tokens and the Celery app."""

from console.celery import app as celery_app

__all__ = ["celery_app"]
