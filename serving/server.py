"""Composition root of the model server: `python -m serving.server --build … --port …` (or `--uds PATH`).

The parent process binds the port (or the Unix socket at PATH, whose file it removes again
when it stops) and loads the model, then forks W workers that all accept on the socket: they
share the loaded model's memory (copy-on-write) and answer as soon as they start. While the
parent loads, a stand-in process forked before the load answers on the socket (alive, not
ready: 503). The parent then only supervises: it forwards SIGTERM/SIGINT (workers drain
in-flight requests, then exit), re-forks a crashed worker (or exits 1 after repeated crashes,
so a process supervisor restarts the whole server), and exits 3 if the model can't be loaded
(in the parent, or initialized in a worker). Workers die with the parent (PR_SET_PDEATHSIG),
so stopping the parent never leaves a half-server behind.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from serving.config import ConfigError, ServerConfig, load_config
from serving.logs import configure_stdlib_logging, log_event
from serving.model_output import capture as capture_model_output

if TYPE_CHECKING:
    from serving.dataplane import DataPlane
    from serving.metrics import ServerMetrics

EXIT_LOAD_FAILED = 3
BIND_WAIT_S = 10.0
SOCKET_UMASK = 0o117  # a Unix socket is created 0660, see bind_unix_socket
MAX_CRASHES, CRASH_WINDOW_S = 5, 60.0
STAND_IN_POLL_S = 0.02  # how often the parent looks whether every worker is ready, while standing in
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


class Listener:
    """The socket the workers accept on. For a Unix socket, closing also removes its file, unless
    the path no longer is the file this server bound (a successor has taken it over)."""

    def __init__(self, sock: socket.socket, path: str | None = None) -> None:
        self.sock = sock
        self.path = path
        self._file = _file_id(path) if path is not None else None

    def close(self) -> None:
        self.sock.close()
        if self.path is not None and self._file is not None and _file_id(self.path) == self._file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._file = None


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def bind_unix_socket(path: str, wait_s: float = BIND_WAIT_S) -> Listener:
    """Listen on a Unix socket at `path`. A stale socket file (a dead server's: connecting is
    refused) is replaced. One that still accepts is waited on for up to `wait_s`, as a held port is
    (the workers of a killed predecessor stop accepting within moments), then refused: two
    servers never share a path. Anything else at the path is left alone and refused.

    The file is created 0660 (through the umask, so it is never wider, even for a moment): the
    gateway, running as another user, connects as root or through the group, which the shared
    directory hands down when it is setgid. What keeps others out is that directory's mode."""
    deadline, warned = time.monotonic() + wait_s, False
    while True:
        if _accepts(path):
            if time.monotonic() >= deadline:
                raise ConfigError(f"can't listen on {path}: another server is listening on this socket")
            if not warned:
                log_event("socket_busy", level="warning", path=path, waiting_s=wait_s)
                warned = True
            time.sleep(0.2)
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(SOCKET_UMASK)  # process-wide, but the parent runs no other thread yet
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue  # another process bound the path since we looked: look again
        finally:
            os.umask(umask)
        sock.listen(2048)
        sock.set_inheritable(True)
        return Listener(sock, path)


def _accepts(path: str) -> bool:
    """Whether a server accepts connections on the socket at `path`."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"can't listen on {path}: it exists and is not a socket, so it is not replaced")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except TimeoutError:  # a full backlog: someone listens
            return True
    return True


# --- the parent ----------------------------------------------------------------------

class Readiness:
    """What every process reads to answer `/health/ready`, in memory shared across the fork: each
    worker's flag (set once it listens, cleared when the parent re-forks it) and whether the
    stand-in may still take connections. Ready means every worker listens and the stand-in has
    gone: a client told "ready" never lands on a process without the model."""

    def __init__(self, workers: int) -> None:
        self.workers = _FORK.RawArray("b", workers)
        self.standing_in = _FORK.RawValue("b", 1)

    def all_ready(self) -> bool:
        return not self.standing_in.value and all(self.workers)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _StopLoading(BaseException):
    """SIGTERM/SIGINT arrived while the parent was loading the model (a BaseException, like
    KeyboardInterrupt, so that model code catching Exception doesn't swallow it)."""


class Supervisor:
    metrics: ServerMetrics
    plane: DataPlane

    def __init__(self, config: ServerConfig, listener: Listener, bundle_dir: Path, multiproc_dir: str) -> None:
        self.config = config
        self.listener = listener
        self.bundle_dir = bundle_dir
        self.multiproc_dir = multiproc_dir
        self.readiness = Readiness(config.workers)
        self.workers: dict[int, BaseProcess] = {}
        self.stand_in: BaseProcess | None = None
        self.stopping_stand_ins: list[BaseProcess] = []
        self.crashes: deque[float] = deque()
        self.loading = False
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        from serving.dataplane import DataPlane, Limits
        from serving.metrics import ServerMetrics

        config = self.config
        self.metrics = ServerMetrics()
        limits = Limits(config.timeout_s, config.max_batch_size, config.max_batch_wait_s)
        self.plane = DataPlane(self.bundle_dir, limits, on_batch=self.metrics.observe_batch)
        self.stand_in = self._fork(None)
        log_event("stand_in_started", worker_pid=self.stand_in.pid)
        if self._load():
            gc.freeze()  # what the parent holds now stays shared: workers' collections don't touch it
            for slot in range(config.workers):
                self._spawn(slot)
        while not self.stopping:
            self._reap(wait(self._sentinels(), timeout=STAND_IN_POLL_S if self.stand_in else 0.5))
            if self.stand_in is not None and all(self.readiness.workers):
                self._retire_stand_in()
        self._stop_workers()
        return self.exit_code

    def _load(self) -> bool:
        """Load the model in this process, before any worker is forked; False if it failed or we stop."""
        self.loading = True
        try:
            seconds = self.plane.load()
        except _StopLoading:
            return False
        except Exception as exc:  # report and stop: a server without its model is no server
            log_event("model_load_failed", level="error", error=f"{type(exc).__name__}: {exc}",
                      bundle=str(self.bundle_dir))
            self._give_up(EXIT_LOAD_FAILED, "the model could not be loaded")
            return False
        finally:
            self.loading = False
        self.metrics.load_seconds.set(seconds)
        log_event("model_loaded", seconds=round(seconds, 3),
                  framework=self.plane.spec.framework if self.plane.spec else None)
        return not self.stopping

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log_event("shutdown_started", signal=signal.Signals(signum).name)
        self.stopping = True
        if self.loading:
            raise _StopLoading

    def _fork(self, slot: int | None) -> BaseProcess:
        from serving.worker import worker_main

        name = "berth-stand-in" if slot is None else f"berth-worker-{slot}"
        process = _FORK.Process(target=worker_main, name=name, daemon=False,
                                args=(self.config, self.listener.sock, self.plane, self.metrics, self.readiness,
                                      slot, os.getpid()))
        # Forked with SIGTERM/SIGINT blocked: until the child sets their default action and unblocks them
        # (worker_main), a stop sent to it stays pending instead of reaching the parent's handler it
        # inherited, which would swallow it and leave the parent waiting out the drain timeout.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return process

    def _spawn(self, slot: int) -> None:
        self.readiness.workers[slot] = 0
        process = self._fork(slot)
        self.workers[slot] = process
        log_event("worker_started", worker=slot, worker_pid=process.pid)

    def _sentinels(self) -> list[Any]:
        processes = [*self.workers.values(), *self.stopping_stand_ins]
        if self.stand_in is not None:
            processes.append(self.stand_in)
        return [process.sentinel for process in processes]

    def _retire_stand_in(self) -> None:
        """Every worker answers: the stand-in stops accepting, answers what it holds and exits."""
        assert self.stand_in is not None  # noqa: S101 - narrows the type; the caller checked
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.stand_in.pid or 0, signal.SIGTERM)
        self.stopping_stand_ins.append(self.stand_in)
        self.stand_in = None

    def _reap(self, finished: list[Any]) -> None:
        for process in [p for p in (self.stand_in, *self.stopping_stand_ins) if p and p.sentinel in finished]:
            process.join()
            self._forget(process)
            if process is self.stand_in:  # it died before the workers were ready: not replaced
                log_event("worker_exited", level="error", worker=None, worker_pid=process.pid,
                          exit_code=process.exitcode)
                self.stand_in = None
            else:
                self.stopping_stand_ins.remove(process)
            if self.stand_in is None and not self.stopping_stand_ins:
                self.readiness.standing_in.value = 0
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
        self.listener.close()  # new connections go to the next replica, not into a dead backlog
        processes = [*self.workers.values(), *self.stopping_stand_ins]
        if self.stand_in is not None:
            processes.append(self.stand_in)
        alive = [p for p in processes if p.is_alive()]
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
    # One OpenMP/BLAS thread per process unless the operator says otherwise: workers are the
    # parallelism, and OpenMP thread pools the parent started would not exist in forked workers.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    configure_stdlib_logging()
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"berth model server: {exc}", file=sys.stderr)
        return 2
    capture_model_output()  # what the model prints (at load, and while predicting) becomes JSON lines
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
    from serving.http_protocol import set_read_timeouts

    set_read_timeouts(config.header_timeout_s, config.body_timeout_s)  # before any process serving HTTP forks
    bundle_dir = resolve_build(config.build, workdir)
    listener = _listen(config)
    try:
        where = ({"uds": config.uds} if config.uds is not None
                 else {"host": config.host, "port": listener.sock.getsockname()[1]})
        log_event("startup", **where, workers=config.workers, build=str(bundle_dir),
                  max_batch_size=config.max_batch_size, max_batch_wait_ms=config.max_batch_wait_ms,
                  timeout_ms=config.timeout_ms, header_timeout_s=config.header_timeout_s,
                  body_timeout_s=config.body_timeout_s)
        code = Supervisor(config, listener, bundle_dir, multiproc_dir).run()
    finally:
        listener.close()
    log_event("shutdown", exit_code=code)
    return code


def _listen(config: ServerConfig) -> Listener:
    where = config.uds if config.uds is not None else f"{config.host}:{config.port}"
    try:
        if config.uds is not None:
            return bind_unix_socket(config.uds)
        return Listener(bind_socket(config.host, config.port))
    except OSError as exc:
        raise ConfigError(f"can't listen on {where}: {exc.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
