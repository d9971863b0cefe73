"""Retention: supervisord rotates each log by size (settings), the hourly task deletes files by age."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deployments.backends.local import LocalBackend
from deployments.backends.supervisor_config import program_conf
from deployments.logs.tasks import prune_logs
from tests.logs.conftest import REPLICA, write

pytestmark = pytest.mark.django_db
DAY = 86400


def aged(path: Path, days: float) -> Path:
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


def test_each_program_rotates_its_log_at_the_configured_size_and_count(tmp_path):
    conf = program_conf("berth-d1-gateway", ["python", "-m", "serving.gateway"], tmp_path, tmp_path / "gateway.log",
                        10, {}, log_max_bytes=1048576, log_backups=3)

    assert "stdout_logfile_maxbytes=1048576\n" in conf
    assert "stdout_logfile_backups=3\n" in conf


def test_the_local_backend_passes_the_settings_to_supervisord(settings):
    settings.BERTH_LOG_MAX_BYTES, settings.BERTH_LOG_BACKUPS = 2 * 1024 * 1024, 4

    assert LocalBackend.from_settings().log_rotation == {"log_max_bytes": 2 * 1024 * 1024, "log_backups": 4}


def test_files_past_the_age_limit_go_but_a_running_gateways_current_log_stays(deployment, settings):
    settings.BERTH_LOG_RETENTION_DAYS = 7
    old_rotated = aged(write(deployment, REPLICA, "old", rotated=2), days=8)
    new_rotated = aged(write(deployment, REPLICA, "newer", rotated=1), days=2)
    gone_replica = aged(write(deployment, "default-0a0b0c0d-3", "a replica long removed"), days=9)
    quiet_gateway = aged(write(deployment, "gateway", "a quiet gateway still running"), days=30)

    assert prune_logs() == 2

    assert not old_rotated.exists()
    assert not gone_replica.exists()
    assert new_rotated.exists()
    assert quiet_gateway.exists()
