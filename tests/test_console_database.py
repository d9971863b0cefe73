"""`make run` keeps the console's data in PostgreSQL, its own when DATABASE_URL is not set.

SQLite could not hold the console's own concurrency ("database is locked" on deploy and
undeploy); the embedded default is the engine production and these tests use.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from console.database import embedded_database_url
from scripts.local_services import start_console_database


@pytest.fixture(scope="module")
def console_database():
    # A data directory like make run's var/: one the unprivileged postgres (when we are root) may traverse.
    data_dir = Path(tempfile.mkdtemp(prefix="berth-test-make-run-"))
    data_dir.chmod(0o755)
    server = start_console_database(data_dir)
    yield embedded_database_url(data_dir)
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_make_runs_default_database_is_postgresql_under_the_data_directory(console_database):
    with psycopg.connect(console_database) as conn:
        assert conn.info.dbname == "berth"
        assert str(conn.execute("SELECT version()").fetchone()).startswith("('PostgreSQL")


def test_it_takes_concurrent_writers_without_locking_errors(console_database):
    with psycopg.connect(console_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS writes (writer int, n int)")
    errors: list[Exception] = []

    def write(writer: int) -> None:
        try:
            with psycopg.connect(console_database) as conn:
                for n in range(50):
                    with conn.transaction():
                        conn.execute("INSERT INTO writes VALUES (%s, %s)", (writer, n))
                        conn.execute("SELECT count(*) FROM writes")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with psycopg.connect(console_database) as conn:
        assert conn.execute("SELECT count(*) FROM writes").fetchone() == (16 * 50,)
