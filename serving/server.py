"""Composition root of the model server: `python -m serving.server --build … --port …`.

The parent process binds the port, then forks W workers that all accept on it. The
parent only supervises: it forwards SIGTERM/SIGINT (workers drain in-flight requests,
then exit), restarts a crashed worker (or exits 1 after repeated crashes, so a process
supervisor restarts the whole server), and exits 3 if a worker can't load the model.
Workers die with the parent (PR_SET_PDEATHSIG), so stopping the parent never leaves a
half-server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from serving.config import ConfigError, ServerConfig, load_config
from serving.logs import configure_stdlib_logging, log_event

EXIT_LOAD_FAILED = 3
BIND_WAIT_S = 10.0
MAX_CRASHES, CRASH_WINDOW_S = 5, 60.0
_FORK = multiprocessing.get_context("fork")


# --- the build ---------------------------------------------------------------------

def resolve_build(build: str, workdir: Path) -> Path:
    """A local bundle directory as is; an http(s) URL is downloaded and extracted."""
    if not build.startswith(("http://", "https://")):
        path = Path(build).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"--build {build}: no such bundle directory")
        return path
    import httpx

    from serving.bundle import extract_archive

    archive = workdir / ("build" + _archive_suffix(build))
    log_event("build_download", url=build)
    with httpx.stream("GET", build, timeout=60.0, follow_redirects=True) as response:
        if response.status_code != 200:
            raise ConfigError(f"--build {build}: download answered HTTP {response.status_code}")
        with archive.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    return extract_archive(archive, workdir / "bundle")


def _archive_suffix(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    return ".zip" if path.endswith(".zip") else ".tar.gz"


def bind_socket(host: str, port: int, wait_s: float = BIND_WAIT_S) -> socket.socket:
    """Listen on host:port. A port still held (the workers of a killed predecessor drain for a
    moment before they exit) is retried for up to `wait_s` before giving up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline, warned = time.monotonic() + wait_s, False
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            if not warned:
                log_event("port_busy", level="warning", port=port, waiting_s=wait_s)
                warned = True
            time.sleep(0.2)
            continue
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock


# --- a worker ------------------------------------------------------------------------

def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_main(config: ServerConfig, sock: socket.socket, bundle_dir: Path,
                ready: Any, slot: int, parent_pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent_pid:
        os._exit(0)
    import uvicorn

    app = build_app(config, bundle_dir, ready, slot, parent_pid)
    server_config = uvicorn.Config(
        app, http="httptools", loop="uvloop", lifespan="on", access_log=False, log_config=None,
        timeout_graceful_shutdown=int(config.graceful_timeout_s), timeout_keep_alive=75, backlog=2048,
    )
    uvicorn.Server(server_config).run(sockets=[sock])


def build_app(config: ServerConfig, bundle_dir: Path, ready: Any, slot: int, parent_pid: int) -> Any:
    """Wire metrics, data plane and REST adapter for one worker."""
    from serving.dataplane import DataPlane, Limits
    from serving.metrics import ServerMetrics, render
    from serving.rest import Hooks, RestApp

    metrics = ServerMetrics()
    limits = Limits(config.timeout_s, config.max_batch_size, config.max_batch_wait_s)
    plane = DataPlane(bundle_dir, limits, on_batch=metrics.observe_batch)
    multiproc_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]

    def load() -> None:
        try:
            seconds = plane.load()
        except Exception as exc:  # report and stop: the parent takes the server down
            log_event("model_load_failed", level="error", error=f"{type(exc).__name__}: {exc}",
                      bundle=str(bundle_dir))
            os._exit(EXIT_LOAD_FAILED)
        metrics.load_seconds.set(seconds)
        metrics.ready.labels(str(slot)).set(1)
        ready[slot] = 1
        log_event("model_loaded", seconds=round(seconds, 3), worker=slot,
                  framework=plane.spec.framework if plane.spec else None)

    async def startup() -> None:
        plane.batcher.start()
        threading.Thread(target=load, name="model-load", daemon=True).start()

    async def shutdown() -> None:
        await plane.batcher.stop()
        log_event("worker_stopped", worker=slot)

    hooks = Hooks(startup=startup, shutdown=shutdown, all_ready=lambda: all(ready),
                  scrape=lambda: render(multiproc_dir, parent_pid))
    return RestApp(plane, metrics, hooks, config.max_body_bytes, config.access_log)


# --- the parent ----------------------------------------------------------------------

class Supervisor:
    def __init__(self, config: ServerConfig, sock: socket.socket, bundle_dir: Path, multiproc_dir: str) -> None:
        self.config = config
        self.sock = sock
        self.bundle_dir = bundle_dir
        self.multiproc_dir = multiproc_dir
        self.ready = _FORK.RawArray("b", config.workers)
        self.workers: dict[int, BaseProcess] = {}
        self.crashes: deque[float] = deque()
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for slot in range(self.config.workers):
            self._spawn(slot)
        while not self.stopping:
            self._reap(wait([p.sentinel for p in self.workers.values()], timeout=0.5))
        self._stop_workers()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log_event("shutdown_started", signal=signal.Signals(signum).name)
        self.stopping = True

    def _spawn(self, slot: int) -> None:
        self.ready[slot] = 0
        process = _FORK.Process(target=worker_main, name=f"berth-worker-{slot}", daemon=False,
                                args=(self.config, self.sock, self.bundle_dir, self.ready, slot, os.getpid()))
        process.start()
        self.workers[slot] = process
        log_event("worker_started", worker=slot, worker_pid=process.pid)

    def _reap(self, finished: list[Any]) -> None:
        for slot, process in list(self.workers.items()):
            if process.sentinel not in finished or self.stopping:
                continue
            process.join()
            self._forget(process)
            code = process.exitcode
            log_event("worker_exited", level="error", worker=slot, worker_pid=process.pid, exit_code=code)
            if code == EXIT_LOAD_FAILED:
                self._give_up(EXIT_LOAD_FAILED, "a worker could not load the model")
            elif self._crash_loop():
                self._give_up(1, f"workers crashed {MAX_CRASHES} times within {CRASH_WINDOW_S:.0f} s")
            else:
                self._spawn(slot)

    def _crash_loop(self) -> bool:
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > CRASH_WINDOW_S:
            self.crashes.popleft()
        return len(self.crashes) >= MAX_CRASHES

    def _give_up(self, code: int, reason: str) -> None:
        log_event("server_giving_up", level="error", reason=reason, exit_code=code)
        self.exit_code = code
        self.stopping = True

    def _forget(self, process: BaseProcess) -> None:
        if process.pid is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(process.pid, self.multiproc_dir)

    def _stop_workers(self) -> None:
        self.sock.close()  # new connections go to the next replica, not into a dead backlog
        alive = [p for p in self.workers.values() if p.is_alive()]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + self.config.graceful_timeout_s + 5
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log_event("worker_killed", level="error", worker_pid=process.pid)
                process.kill()
                process.join()


def main(argv: list[str] | None = None) -> int:
    configure_stdlib_logging()
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"berth model server: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="berth-server-"))
    multiproc_dir = workdir / "metrics"
    multiproc_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    try:
        return _serve(config, workdir, str(multiproc_dir))
    except ConfigError as exc:
        log_event("startup_failed", level="error", error=str(exc))
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(config: ServerConfig, workdir: Path, multiproc_dir: str) -> int:
    bundle_dir = resolve_build(config.build, workdir)
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        raise ConfigError(f"can't listen on {config.host}:{config.port}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    log_event("startup", host=config.host, port=port, workers=config.workers, build=str(bundle_dir),
              max_batch_size=config.max_batch_size, max_batch_wait_ms=config.max_batch_wait_ms,
              timeout_ms=config.timeout_ms)
    code = Supervisor(config, sock, bundle_dir, multiproc_dir).run()
    log_event("shutdown", exit_code=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
