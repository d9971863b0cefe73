"""Real services for every test: PostgreSQL, Redis, a Celery worker process, a live ASGI console.

Nothing is mocked: the servers on 127.0.0.1 are used when they answer, otherwise throwaway
ones are started (see scripts/local_services.py). Each test session gets its own Celery queue,
channel prefix and data directory, so parallel sessions do not see each other's work.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from scripts.local_services import ensure_postgres, ensure_redis


def _configure_services() -> None:
    """Point the settings at real services before Django reads them (pytest-django sets up after)."""
    data_root = Path(os.environ.get("BERTH_TEST_DATA_ROOT") or tempfile.mkdtemp(prefix="berth-test-"))
    os.environ["BERTH_TEST_DATA_ROOT"] = str(data_root)
    if "DATABASE_URL" not in os.environ:  # a name of its own, so concurrent runs never share a test database
        os.environ["DATABASE_URL"] = ensure_postgres(data_root).rsplit("/", 1)[0] + f"/berth_{uuid.uuid4().hex[:8]}"
    if "REDIS_URL" not in os.environ:
        os.environ["REDIS_URL"] = ensure_redis(data_root)
    session = os.environ.get("PYTEST_XDIST_WORKER", "main") + "-" + uuid.uuid4().hex[:8]
    os.environ["BERTH_DATA_DIR"] = str(data_root / session)
    os.environ["BERTH_CELERY_QUEUE"] = f"berth-test-{session}"
    os.environ["BERTH_CHANNEL_PREFIX"] = f"berth-test-{session}"
    os.environ.setdefault("BERTH_SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
    os.environ["BERTH_LOCK_TTL_S"] = "6"  # a killed worker's lock frees in seconds, so recovery tests are quick
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    import django

    django.setup()
    # Not inherited by pytest-xdist's workers: each must load settings after choosing its own names above.
    del os.environ["DJANGO_SETTINGS_MODULE"]


_configure_services()
pytest_plugins = [
    "tests.fixtures.people", "tests.fixtures.processes", "tests.fixtures.builds", "tests.fixtures.browser",
    "tests.fixtures.runtime", "tests.fixtures.live_redis",
]
