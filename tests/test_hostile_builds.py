"""Attacks a deployer could put in build(), run as real builds by the real worker: each one fails.

What must hold (docs/runtime.md, "Security model"): model code runs as an unprivileged user,
sees none of the console's files, reaches no network while validated, and can't outlive or
out-grow its limits; the worker is free again at once and nothing it started survives.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from deployments.builds.upload import store_build
from deployments.builds.validation import LOG_LIMIT
from deployments.models import Build, BuildStatus
from tests.fixtures.builds import python_bundle_files, tar_gz, upload, wait_for_build
from tests.fixtures.hostile import HOSTILE_YAML, Listener, hostile_code, processes_with, results
from tests.fixtures.processes import WORKER_BUILD_TIMEOUT_S, WORKER_SANDBOX_PROCESSES, WORKER_SANDBOX_SCRATCH_MB

pytestmark = pytest.mark.django_db(transaction=True)


def hostile_build(model, user, attack: str) -> Build:
    files = python_bundle_files(model_code=hostile_code(attack), manifest=HOSTILE_YAML)
    return wait_for_build(store_build(model, upload("hostile.tar.gz", tar_gz(files)), "", None, user))


def assert_nothing_survives(marker: str) -> None:
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == []


def database_directory() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        return str(cursor.fetchone()[0])


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


def test_model_code_runs_unprivileged_and_sees_none_of_the_consoles_files(celery_worker, iris_model, alice):
    victim = wait_for_build(store_build(iris_model, upload("victim.tar.gz", tar_gz(python_bundle_files(
        model_code=hostile_code("pass") + "\n# VICTIM-CODE-7f3a\n", manifest=HOSTILE_YAML))), "", None, alice))
    encryption_keys = (Path(settings.DATA_DIR) / "encryption_keys").read_text().strip()

    build = hostile_build(iris_model, alice, f"""
        attempt("uid", os.getuid)
        for depth in range(1, 8):
            attempt(f"keys_up_{{depth}}", lambda: read("../" * depth + "encryption_keys"))
        attempt("encryption_keys", lambda: read({str(Path(settings.DATA_DIR) / "encryption_keys")!r}))
        attempt("data_dir", lambda: os.listdir({str(settings.DATA_DIR)!r}))
        attempt("other_build", lambda: read({str(victim.bundle_dir / "model.py")!r}))
        attempt("database_files", lambda: os.listdir({database_directory()!r}))
        attempt("shadow", lambda: read("/etc/shadow"))
        attempt("root", lambda: sorted(os.listdir("/")))
        attempt("console_env", lambda: sorted(k for k in os.environ if "SECRET" in k or "DATABASE" in k
                                              or "REDIS" in k or "ENCRYPTION" in k or "DJANGO" in k))
        attempt("write_bundle", lambda: open("stolen.txt", "w").write("x"))
    """)

    assert build.status == BuildStatus.READY, build.error
    found = results(build.log)
    assert found["uid"] != "OK 0"
    for name in ("encryption_keys", "data_dir", "other_build", "database_files", "shadow",
                 *(f"keys_up_{depth}" for depth in range(1, 8))):
        assert found[name].startswith("FileNotFoundError"), (name, found[name])
    assert found["console_env"] == "OK []"
    assert found["write_bundle"].startswith("OSError: [Errno 30] Read-only file system")
    root = eval(found["root"].removeprefix("OK "))  # noqa: S307 - a list literal our own attack printed
    assert set(root) <= {"bin", "bundle", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "run",
                         "sbin", "tmp", "usr", *venv_tops()}
    assert settings.SECRET_KEY not in build.log
    assert encryption_keys.split(",")[0] not in build.log
    assert "VICTIM-CODE-7f3a" not in build.log


def venv_tops() -> set[str]:
    """The top directories the sandbox shows so that the venv and its interpreter keep their paths (/work, /home…)."""
    paths = (sys.prefix, sys.base_prefix, os.path.realpath(sys.executable))
    return {Path(path).parts[1] for path in paths}


def test_model_code_has_no_network_while_it_is_validated(celery_worker, live_console, iris_model, alice, listener):
    redis = urlsplit(settings.REDIS_URL)
    database = settings.DATABASES["default"]
    console = urlsplit(live_console)
    supervisor_socket = settings.BERTH_SUPERVISOR_URL.removeprefix("unix://")

    build = hostile_build(iris_model, alice, f"""
        attempt("redis", lambda: connect(({redis.hostname!r}, {redis.port or 6379}), send=b"PING\\r\\n"))
        attempt("postgres", lambda: connect(({database.get("HOST") or "127.0.0.1"!r}, {int(database.get("PORT")
                                                                                            or 5432)})))
        attempt("postgres_socket", lambda: connect("/var/run/postgresql/.s.PGSQL.5432", socket.AF_UNIX))
        attempt("console", lambda: connect(("127.0.0.1", {console.port}), send=b"GET / HTTP/1.0\\r\\n\\r\\n"))
        attempt("host_service", lambda: connect(("127.0.0.1", {listener.port})))
        attempt("supervisord", lambda: connect({supervisor_socket!r}, socket.AF_UNIX))
        attempt("outward", lambda: connect(("1.1.1.1", 443)))
        attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
    """)

    assert build.status == BuildStatus.READY, build.error
    found = results(build.log)
    assert "PONG" not in build.log
    assert not listener.accepted.is_set()
    for name in ("redis", "postgres", "console", "host_service"):
        assert found[name].startswith("ConnectionRefusedError"), (name, found[name])  # its own, empty, network
    assert found["postgres_socket"].startswith("FileNotFoundError")
    assert found["supervisord"].startswith("FileNotFoundError")
    assert found["outward"].startswith("OSError: [Errno 101] Network is unreachable")
    assert found["dns"].startswith("gaierror")


def test_a_fork_bomb_stops_at_the_process_limit_and_leaves_nothing(celery_worker, iris_model, alice,
                                                                  iris_python_archive):
    marker = "903.1"
    build = hostile_build(iris_model, alice, f"""
        started = 0
        while True:
            pid = os.fork()
            if pid == 0:
                os.execv("/usr/bin/sleep", ["sleep", "{marker}"])
            started += 1
            print(f"RESULT forked = {{started}}", flush=True)
    """)

    assert build.status == BuildStatus.FAILED
    assert "BlockingIOError" in build.error
    assert f"the sandbox allows {WORKER_SANDBOX_PROCESSES} processes" in build.error
    assert "BERTH_SANDBOX_MAX_PROCESSES" in build.error
    assert int(results(build.log)["forked"]) < WORKER_SANDBOX_PROCESSES
    assert_nothing_survives(marker)
    after = wait_for_build(store_build(iris_model, upload("iris.tar.gz", iris_python_archive), "", None, alice))
    assert after.status == BuildStatus.READY, after.error  # the worker is healthy and free


def test_processes_that_escape_their_session_end_with_validation(celery_worker, iris_model, alice):
    marker = "904.2"
    started = time.monotonic()
    build = hostile_build(iris_model, alice, f"""
        for _ in range(20):
            subprocess.Popen(["setsid", "sleep", "{marker}"], stdout=sys.stdout, stderr=sys.stderr)
        if os.fork() == 0:  # a double fork that calls setsid() itself
            os.setsid()
            if os.fork() == 0:
                time.sleep(900)
            os._exit(0)
        print("RESULT spawned = yes", flush=True)
    """)

    assert build.status == BuildStatus.READY, build.error
    assert time.monotonic() - started < WORKER_BUILD_TIMEOUT_S, "validation waited for the escaped processes"
    assert_nothing_survives(marker)


def test_sleeping_past_the_time_limit_is_stopped_with_everything_it_started(celery_worker, iris_model, alice):
    marker = "905.3"
    started = time.monotonic()
    build = hostile_build(iris_model, alice, f"""
        for _ in range(5):
            subprocess.Popen(["setsid", "sleep", "{marker}"])
        time.sleep(3600)
    """)

    assert build.status == BuildStatus.FAILED
    assert f"did not finish within {WORKER_BUILD_TIMEOUT_S} s (wall-clock limit" in build.error
    assert time.monotonic() - started < WORKER_BUILD_TIMEOUT_S + 30, "the worker was not free soon after the limit"
    assert_nothing_survives(marker)


def test_filling_the_disk_stops_at_the_scratch_limit(celery_worker, iris_model, alice):
    build = hostile_build(iris_model, alice, """
        written = 0
        try:
            with open("/tmp/fill", "wb") as handle:
                while True:
                    handle.write(b"x" * 1024 * 1024)
                    handle.flush()
                    written += 1
        finally:
            print(f"RESULT written_mb = {written}", flush=True)
    """)

    assert build.status == BuildStatus.FAILED
    assert "No space left on device" in build.error
    assert f"the scratch space (/tmp) holds {WORKER_SANDBOX_SCRATCH_MB} MB" in build.error
    assert int(results(build.log)["written_mb"]) <= WORKER_SANDBOX_SCRATCH_MB
    assert sum(f.stat().st_size for f in build.bundle_dir.rglob("*") if f.is_file()) < 1024 * 1024


def test_a_build_that_prints_without_end_gets_a_capped_log(celery_worker, iris_model, alice):
    build = hostile_build(iris_model, alice, """
        line = "spam " * 200 + "\\n"
        for _ in range(60_000):
            sys.stderr.write(line)
        print("RESULT printed = 60 MB", flush=True)
    """)

    assert build.status == BuildStatus.READY, build.error
    assert len(build.log) <= LOG_LIMIT + 100
    assert "validation passed" in build.log
