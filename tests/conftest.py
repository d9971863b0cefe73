"""Real services for every test: PostgreSQL, Redis, a Celery worker process, a live ASGI console.

Nothing is mocked: the servers on 127.0.0.1 are used when they answer, otherwise throwaway
ones are started (see scripts/local_services.py). Each test session gets its own Celery queue,
channel prefix and data directory, so parallel sessions do not see each other's work.

All of it lives in one temporary `berth-test-*` folder (BERTH_TEST_DATA_ROOT), removed when the
run ends by the process that made it: pytest-xdist's controller, after its workers, which
inherit the variable and only add their own session folders to it. Set BERTH_TEST_DATA_ROOT
yourself to keep the folder; BERTH_TEST_EMBEDDED_SERVICES=1 uses the throwaway servers even
when local ones answer.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from scripts.local_services import ServiceRefused, ensure_postgres, ensure_redis

# Short timings for the local runtime (tests/fixtures/runtime.py). They are in the environment
# before Django reads its settings, so this process and every process it starts agree on them.
RUNTIME_TEST_SETTINGS = {
    "BERTH_ROLLOUT_POLL_MS": "200",
    "BERTH_ROLLOUT_MAX_RESTARTS": "1",
    "BERTH_DEPLOY_TIMEOUT_CAP_S": "40",
    "BERTH_DRAIN_TIMEOUT_S": "5",
}


def _data_root() -> Path:
    """This run's folder; made (and removed at exit) by the first process, inherited by xdist workers."""
    if os.environ.get("BERTH_TEST_DATA_ROOT"):
        return Path(os.environ["BERTH_TEST_DATA_ROOT"])
    data_root = tempfile.mkdtemp(prefix="berth-test-")
    os.environ["BERTH_TEST_DATA_ROOT"] = data_root
    # Registered before the throwaway servers register their own stops: atexit runs last-in first-out,
    # so the servers have stopped when their folders go.
    atexit.register(shutil.rmtree, data_root, ignore_errors=True)
    return Path(data_root)


def _configure_services() -> None:
    """Point the settings at real services before Django reads them (pytest-django sets up after)."""
    data_root = _data_root()
    use_local = os.environ.get("BERTH_TEST_EMBEDDED_SERVICES") != "1"
    try:
        if "DATABASE_URL" not in os.environ:  # a name of its own, so concurrent runs never share a test database
            server = ensure_postgres(data_root, use_local).rsplit("/", 1)[0]
            os.environ["DATABASE_URL"] = server + f"/berth_{uuid.uuid4().hex[:8]}"
        if "REDIS_URL" not in os.environ:
            os.environ["REDIS_URL"] = ensure_redis(data_root, use_local)
    except ServiceRefused as refused:  # a message, not a traceback out of a conftest import
        sys.exit(f"{refused}\n(or BERTH_TEST_EMBEDDED_SERVICES=1 to use throwaway servers instead)")
    session = os.environ.get("PYTEST_XDIST_WORKER", "main") + "-" + uuid.uuid4().hex[:8]
    os.environ["BERTH_DATA_DIR"] = str(data_root / session)
    os.environ["BERTH_CELERY_QUEUE"] = f"berth-test-{session}"
    os.environ["BERTH_CHANNEL_PREFIX"] = f"berth-test-{session}"
    os.environ.setdefault("BERTH_SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
    os.environ["BERTH_LOCK_TTL_S"] = "6"  # a killed worker's lock frees in seconds, so recovery tests are quick
    os.environ.update(RUNTIME_TEST_SETTINGS)
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    import django

    django.setup()
    # Not inherited by pytest-xdist's workers: each must load settings after choosing its own names above.
    del os.environ["DJANGO_SETTINGS_MODULE"]


_configure_services()
pytest_plugins = [
    "tests.fixtures.people", "tests.fixtures.processes", "tests.fixtures.builds", "tests.fixtures.browser",
    "tests.fixtures.runtime", "tests.fixtures.live_redis", "tests.fixtures.stand_in_gateway",
    "tests.fixtures.quiet_worker",
]
