"""The seam to supervisord's XML-RPC API: programs from .conf files, added, stopped, removed.

Only the local backend uses it. Each program is its own process group, so adding or
removing one never restarts another.
"""

from __future__ import annotations

import contextlib
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import Faults, SupervisorTransport

from deployments.backends.base import BackendError

STOPPED_STATES = {"STOPPED", "EXITED", "FATAL", "UNKNOWN"}


class Supervisor:
    def __init__(self, url: str, conf_dir: Path) -> None:
        self.url = url
        self.conf_dir = conf_dir

    @property
    def rpc(self) -> Any:
        # A proxy per call: ServerProxy is not thread-safe and a stale connection must not linger.
        transport = SupervisorTransport(None, None, self.url)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport, allow_none=True).supervisor

    def check(self) -> None:
        try:
            state = self.rpc.getState()["statename"]
        except (OSError, xmlrpc.client.Error) as exc:
            raise BackendError(f"supervisord does not answer at {self.url} ({exc}); start it with "
                               "`supervisord -c <BERTH_DATA_DIR>/supervisor/supervisord.conf` (see docs/runtime.md)"
                               ) from None
        if state != "RUNNING":
            raise BackendError(f"supervisord at {self.url} is {state}, not RUNNING")

    def conf_path(self, name: str) -> Path:
        return self.conf_dir / f"{name}.conf"

    def add(self, name: str, conf_text: str) -> bool:
        """Write `[program:name]` config and start it; False when it was already there."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self.conf_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(conf_text)
        tmp.replace(path)
        self._reload()
        try:
            self.rpc.addProcessGroup(name)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == Faults.ALREADY_ADDED:
                return False
            raise BackendError(f"supervisord could not start {name}: {fault.faultString}") from None
        return True

    def stop_many(self, names: list[str], timeout_s: float) -> None:
        """SIGTERM each (the stopsignal) without waiting on each in turn, then wait for all."""
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc.stopProcessGroup(name, False)
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        while pending and time.monotonic() < deadline:
            infos = {info["group"]: info for info in self.all()}
            pending = {n for n in pending if n in infos and infos[n]["statename"] not in STOPPED_STATES}
            if pending:
                time.sleep(0.2)

    def remove_many(self, names: list[str], timeout_s: float) -> None:
        """Stop, remove from supervisord and delete the .conf of each program."""
        self.stop_many(names, timeout_s)
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc.stopProcessGroup(name, True)  # past the drain timeout supervisord SIGKILLs
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc.removeProcessGroup(name)
            self.conf_path(name).unlink(missing_ok=True)
        if names:
            self._reload()

    def all(self) -> list[dict[str, Any]]:
        return list(self.rpc.getAllProcessInfo())

    def info(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.rpc.getProcessInfo(f"{name}:{name}"))
        except xmlrpc.client.Fault:
            return None

    def signal(self, name: str, signal_name: str) -> None:
        with contextlib.suppress(xmlrpc.client.Fault):
            self.rpc.signalProcess(f"{name}:{name}", signal_name)

    def main_log_tail(self, length: int = 20_000) -> str:
        try:
            return str(self.rpc.readLog(-length, 0))
        except xmlrpc.client.Fault:
            return ""

    def _reload(self) -> None:
        try:
            self.rpc.reloadConfig()
        except xmlrpc.client.Fault as fault:
            raise BackendError(f"supervisord rejected its configuration: {fault.faultString}") from None
