"""The CPU the PostgreSQL server spends for this process: its backend process, read with psutil.

A query's cost is partly in that other process, which time.process_time() here does not see.
"""

from __future__ import annotations

import psutil
from django.db import connection


def backend() -> psutil.Process:
    """The server process serving Django's connection (opened if it was not)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return psutil.Process(int(row[0]))


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system
