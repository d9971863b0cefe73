"""Where chart series come from: the console's own stored points, or Prometheus when PROMETHEUS_URL is set.

Both answer the same `Series` (monitoring.series), so the API and the charts never know which.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from django.conf import settings

from deployments.models import Deployment
from monitoring.series import Series, read_series


class SourceUnavailable(RuntimeError):
    """The source could not be read now (Prometheus down…); the message says what happened, for people."""


class SeriesSource(Protocol):
    def read(self, deployment: Deployment, range_name: str, now: datetime, variation: str = "") -> Series: ...


class StoredSource:
    """The points monitoring.tasks.scrape_metrics stored."""

    def read(self, deployment: Deployment, range_name: str, now: datetime, variation: str = "") -> Series:
        return read_series(deployment.pk, range_name, now, variation)


def series_source() -> SeriesSource:
    if settings.PROMETHEUS_URL:
        from monitoring.prometheus_source import PrometheusSource

        return PrometheusSource(settings.PROMETHEUS_URL)
    return StoredSource()
