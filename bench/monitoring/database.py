"""A throwaway PostgreSQL database and the Django settings pointing at it, for one bench run.

The database `berth_bench_<pid>` is made on the local server (scripts/local_services.PG_URL's,
127.0.0.1:5432), migrated, and dropped when the run ends, even after an error. The environment
is set as tests/conftest.py sets it before Django reads console.settings: a data directory of the
run's own (its runtime folder holds the launch records the collector reads), a channel prefix and a
Celery queue nobody else uses. Nothing else on the server is touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg

from scripts.local_services import PG_URL

SERVER_URL = PG_URL.rsplit("/", 1)[0]


@contextlib.contextmanager
def throwaway_database(work: Path) -> Iterator[str]:
    """Create the database, configure and set up Django on it, migrate; yield its name; drop it."""
    name = f"berth_bench_{os.getpid()}"
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # our own name, not input
    try:
        _configure(work, name)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _configure(work: Path, name: str) -> None:
    tag = f"bench-monitoring-{os.getpid()}"
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{name}"
    os.environ["BERTH_DATA_DIR"] = str(work / "data")
    os.environ["BERTH_CHANNEL_PREFIX"] = tag
    os.environ["BERTH_CELERY_QUEUE"] = tag
    os.environ.setdefault("BERTH_SECRET_KEY", "bench-secret-key-not-for-production-" + "x" * 20)
    os.environ["BERTH_BACKEND"] = "local"
    os.environ["BERTH_LOG_LEVEL"] = "WARNING"  # not a line per replica made ready
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    for name_ in ("PROMETHEUS_URL", "BERTH_METRICS_SCRAPE_S", "BERTH_METRICS_ROLLUP_S",
                  "BERTH_METRICS_RAW_RETENTION_H", "BERTH_METRICS_ROLLUP_RETENTION_D"):
        os.environ.pop(name_, None)  # the defaults are what is measured
