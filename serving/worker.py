"""One forked process of the model server, serving HTTP on the parent's listening socket:

* a worker (`slot` 0…W-1) serves the model its parent loaded before forking it: it runs the
  model's per-process `initialize()` and a warm-up, starts accepting, and only then counts as
  ready, so `/health/ready` is 200 only once every worker can answer (serving.server.Readiness);
* the stand-in (`slot` None) serves while the parent is still loading the model: liveness,
  503 for readiness and predictions, then stops when every worker is ready; no process says
  ready before it has gone.

Imported by the parent before it forks anything, so the HTTP stack's memory is shared too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

import uvicorn
import uvicorn.lifespan.on  # what uvicorn.Config imports by name: here, so forked workers share it
import uvicorn.loops.uvloop
import uvicorn.protocols.http.httptools_impl
import uvloop  # noqa: F401 - imported here so forked workers share it

from serving import model_output
from serving.config import ServerConfig
from serving.dataplane import DataPlane
from serving.http_protocol import OneWriteHttpToolsProtocol
from serving.logs import log_event
from serving.metrics import ServerMetrics, render
from serving.rest import Hooks, RestApp
from serving.server import EXIT_LOAD_FAILED, STOP_SIGNALS

if TYPE_CHECKING:
    from serving.server import Readiness


def worker_main(config: ServerConfig, sock: socket.socket, plane: DataPlane, metrics: ServerMetrics,
                readiness: Readiness, slot: int | None, parent_pid: int) -> None:
    forked = time.perf_counter()
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent's fork: a stop sent meanwhile acts now
    _die_with_parent()
    model_output.after_fork()
    if os.getppid() != parent_pid:
        os._exit(0)
    if slot is not None:
        try:
            plane.start()
        except Exception as exc:  # report and stop: the parent takes the server down
            log_event("model_load_failed", level="error", error=f"{type(exc).__name__}: {exc}",
                      bundle=str(plane.bundle_dir), worker=slot)
            os._exit(EXIT_LOAD_FAILED)

    def listening() -> None:
        if slot is None:
            return
        log_event("worker_ready", worker=slot, seconds=round(time.perf_counter() - forked, 3))
        metrics.ready.labels(str(slot)).set(1)
        readiness.workers[slot] = 1  # last: /health/ready counts this worker from now on

    app = build_app(config, plane, metrics, readiness, slot, parent_pid)
    server_config = uvicorn.Config(
        app, http=OneWriteHttpToolsProtocol, loop="uvloop", lifespan="on", access_log=False, log_config=None,
        ws="none", proxy_headers=False, server_header=False,
        timeout_graceful_shutdown=int(config.graceful_timeout_s), timeout_keep_alive=75, backlog=2048,
    )
    _Server(server_config, listening).run(sockets=[sock])


def build_app(config: ServerConfig, plane: DataPlane, metrics: ServerMetrics, readiness: Readiness,
              slot: int | None, parent_pid: int) -> RestApp:
    """Wire the data plane and the REST adapter for one process."""
    multiproc_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]

    async def startup() -> None:
        if plane.ready:
            plane.batcher.start()

    async def shutdown() -> None:
        if plane.ready:
            await plane.batcher.stop()
        log_event("worker_stopped" if slot is not None else "stand_in_stopped", worker=slot)

    hooks = Hooks(startup=startup, shutdown=shutdown, all_ready=readiness.all_ready,
                  scrape=lambda: render(multiproc_dir, parent_pid))
    return RestApp(plane, metrics, hooks, config.max_body_bytes, config.access_log)


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_listening: Any) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_listening()


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
