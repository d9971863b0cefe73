"""Celery beat runs the metrics scrape at the configured interval."""

from __future__ import annotations

from django.conf import settings

from console.celery import app


def test_beat_scrapes_metrics_every_berth_metrics_scrape_s() -> None:
    app.finalize()  # connects the periodic tasks, as the beat process does at start
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == "monitoring.tasks.scrape_metrics"]
    assert entry["schedule"] == settings.BERTH_METRICS_SCRAPE_S
