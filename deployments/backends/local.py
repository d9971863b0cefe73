"""The local runtime: every replica and every gateway is a supervisord program on 127.0.0.1.

This module adapts the Backend interface onto four helpers: `supervisor_rpc` (supervisord's
API) and `supervisor_config.program_conf` (its program files), `local_files` (each
deployment's launch records, starts, logs and gateway files), `readiness` (HTTP checks) and
`exit_reasons` (why a process ended, in words). supervisord program names are
`berth-d<pk>-<replica name>` and `berth-d<pk>-gateway`.

Order that `replicas()` relies on: a launch record is written before its program is added,
and marked `removing` before its program is removed, then forgotten. So a record without a
program is being started, unless it is marked.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx

from deployments.backends import exit_reasons, log_files, readiness
from deployments.backends.base import Backend, BackendError, GatewayStatus, ReplicaState, ReplicaStatus
from deployments.backends.local_files import GATEWAY, DeploymentFiles, LaunchRecord
from deployments.backends.ports import free_port, is_free
from deployments.backends.replica_id import ReplicaId, desired_replicas
from deployments.backends.supervisor_config import program_conf
from deployments.backends.supervisor_rpc import Supervisor
from deployments.endpoint_keys.gateway_config import accepted_keys, keys_lock
from deployments.models import Build, Deployment, InstanceType
from deployments.rollouts.spec import DeploySpec, VariationSpec
from deployments.sandbox.check import ensure_sandbox
from deployments.sandbox.command import (
    INSIDE_BUNDLE,
    INSIDE_SOCKET_DIR,
    Limits,
    SandboxUnavailable,
    make_readable,
    own_socket_dir,
    sandbox_uid,
)

REPO = Path(__file__).resolve().parents[2]
SOCKET_NAME = "server.sock"
CRASHED_STATES = {"BACKOFF", "EXITED", "FATAL"}
STOPPED_STATES = {"STOPPED", "STOPPING", "UNKNOWN"}
FOLLOW_REWIND_S = 5  # a new reader first sends the last seconds' lines: none is lost while it starts


def program_name(deployment: int, part: ReplicaId | str) -> str:
    """supervisord's name for a replica's program, or (part "gateway") the gateway's."""
    return f"berth-d{deployment}-{part}"


class LocalBackend(Backend):
    name = "local"

    def __init__(self, supervisor: Supervisor, runtime_dir: Path, data_dir: Path, host: str = "127.0.0.1",
                 drain_timeout_s: int = 30, log_max_bytes: int = 20 * 1024 * 1024, log_backups: int = 5) -> None:
        self.supervisor = supervisor
        self.runtime_dir = runtime_dir
        self.data_dir = data_dir
        self.host = host
        self.drain_timeout_s = drain_timeout_s
        self.log_rotation = {"log_max_bytes": log_max_bytes, "log_backups": log_backups}

    @classmethod
    def from_settings(cls) -> LocalBackend:
        from django.conf import settings

        return cls(Supervisor(settings.BERTH_SUPERVISOR_URL, Path(settings.BERTH_SUPERVISOR_CONF_DIR)),
                   Path(settings.BERTH_RUNTIME_DIR), Path(settings.DATA_DIR), settings.BERTH_GATEWAY_HOST,
                   settings.BERTH_DRAIN_TIMEOUT_S, settings.BERTH_LOG_MAX_BYTES, settings.BERTH_LOG_BACKUPS)

    def files(self, deployment: Deployment) -> DeploymentFiles:
        return DeploymentFiles(self.runtime_dir, deployment.pk)

    # --- replicas ------------------------------------------------------------------------

    def apply(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        self.supervisor.check()
        try:
            ensure_sandbox()
        except SandboxUnavailable as exc:
            raise BackendError(f"No replica was started: model code can't be run safely on this machine. {exc}") from None
        files = self.files(deployment)
        running = {info["group"] for info in self.supervisor.all()}
        started = []
        for rid, variation in desired_replicas(deployment.pk, spec).items():
            program = program_name(deployment.pk, rid)
            if program in running:
                continue
            record = files.record(rid)
            if record is None:
                files.write_record(_launch_record(files, deployment, rid, variation, self.drain_timeout_s))
            elif record.removing:  # a removal that did not finish: it is wanted again
                files.write_record(replace(record, removing=False))
            self.supervisor.add(program, self._replica_conf(files, rid, program))
            started.append(rid)
        return started

    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        files = self.files(deployment)
        infos = {info["group"]: info for info in self.supervisor.all()}
        main_log = functools.cache(self.supervisor.main_log_tail)  # read once, and only when needed
        with httpx.Client(timeout=1.0) as client:
            return [self._status(files, record, infos.get(program_name(deployment.pk, record.id)), client, main_log)
                    for record in files.records()]

    def prune(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        """In the order `replicas()` relies on: mark the records, remove the programs, forget the records."""
        files, keep = self.files(deployment), desired_replicas(deployment.pk, spec)
        extra = [r.id for r in files.records() if r.id not in keep]
        files.mark_removing(extra)
        self.supervisor.remove_many([program_name(deployment.pk, rid) for rid in extra], self.drain_timeout_s + 10)
        for rid in extra:
            files.forget(rid)
        return extra

    def delete(self, deployment: Deployment) -> None:
        files = self.files(deployment)
        rids = [r.id for r in files.records()]
        files.mark_removing(rids)
        prefix = program_name(deployment.pk, "")
        programs = {program_name(deployment.pk, rid) for rid in rids}
        programs |= {info["group"] for info in self.supervisor.all() if info["group"].startswith(prefix)}
        programs |= {p.stem for p in self.supervisor.conf_dir.glob(f"{prefix}*.conf")}
        self.supervisor.remove_many(sorted(programs), self.drain_timeout_s + 10)  # all drain at once
        files.remove()

    # --- gateway -------------------------------------------------------------------------

    def route(self, deployment: Deployment, spec: DeploySpec) -> GatewayStatus:
        """Keeps the deployment's port for its life: `deployment.gateway_port` (what the engine
        stored), else state.json's, else a free one; a new one when another process took it."""
        self.supervisor.check()
        files = self.files(deployment)
        program = program_name(deployment.pk, GATEWAY)
        running = self.supervisor.info(program) is not None
        port, moved_from = self._gateway_port(deployment, files, running)
        files.save_gateway_port(port)
        version = uuid.uuid4().hex[:12]
        config = {"version": version, "model_id": deployment.model.model_id, "deployment": deployment.pk,
                  "variations": [_route_entry(files, deployment.pk, v) for v in spec.variations]}
        with keys_lock(deployment.pk):  # until the gateway serves `version`: a key refresh waits for it
            if spec.require_key:
                config["endpoint_keys"] = accepted_keys(deployment.model.project_id)
            files.write_routes(config)
            if running:
                self.supervisor.signal(program, "HUP")
            else:
                self.supervisor.add(program, self._gateway_conf(files, program, port))
            body = self._await_routes(files, port, version)
        url = self._gateway_url(port)
        moved = (f"Port {moved_from} of this deployment's endpoint was taken by another program; "
                 f"the endpoint moved to {url}.") if moved_from else ""
        return GatewayStatus(url, port, version, body.get("status") == "ready", moved)

    def refresh_endpoint_keys(self, deployment: Deployment) -> bool:
        """Rewrite the accepted keys into routes that require keys (others are left alone), reload the
        gateway and wait until it serves them: a revoked key is refused once this returns."""
        files = self.files(deployment)
        program = program_name(deployment.pk, GATEWAY)
        with keys_lock(deployment.pk):
            try:
                config = json.loads(files.routes_path.read_text())
            except (OSError, ValueError):
                return False
            if "endpoint_keys" not in config:
                return False
            config["endpoint_keys"] = accepted_keys(deployment.model.project_id)
            config["version"] = version = uuid.uuid4().hex[:12]
            files.write_routes(config)
            port = files.gateway_port()
            if port is None or self.supervisor.info(program) is None:
                return True  # no gateway runs: it reads the new file when it starts
            self.supervisor.signal(program, "HUP")
            self._await_routes(files, port, version)
        return True

    def _await_routes(self, files: DeploymentFiles, port: int, version: str) -> dict[str, Any]:
        """The gateway's health once it serves routes `version`; BackendError when it does not in 30 s."""
        body = readiness.await_config(self._gateway_url(port), version)
        if isinstance(body, str):
            tail = "\n".join(exit_reasons.readable(files.tail_log(GATEWAY, 10)))
            raise BackendError(f"The gateway on port {port} did not take the new routes within 30 s ({body})."
                               + (f" Its last log lines:\n{tail}" if tail else ""))
        return body

    def gateway(self, deployment: Deployment) -> GatewayStatus | None:
        port = self.files(deployment).gateway_port()
        if not port:
            return None
        body = readiness.gateway_health(self._gateway_url(port))
        if isinstance(body, str):
            return GatewayStatus(self._gateway_url(port), port)
        return GatewayStatus(self._gateway_url(port), port, str(body.get("config_version", "")),
                             body.get("status") == "ready")

    def gateway_problem(self, deployment: Deployment) -> str:
        port = self.files(deployment).gateway_port()
        if not port:
            return ""
        error = readiness.liveness(self._gateway_url(port))
        return "" if error is None else f"the gateway on port {port} does not answer ({error})"

    # --- logs ----------------------------------------------------------------------------

    def tail_logs(self, deployment: Deployment, replica: str, lines: int = 100) -> list[str]:
        return self.files(deployment).tail_log(replica, lines)

    def log_sources(self, deployment: Deployment) -> list[str]:
        return log_files.sources(self._log_dir(deployment))

    def log_end(self, deployment: Deployment, source: str) -> log_files.Position | None:
        return log_files.end_position(self._log_dir(deployment), source)

    def read_log_backward(self, deployment: Deployment, source: str,
                          before: log_files.Position | None) -> Iterator[log_files.RawLine]:
        return log_files.backward(self._log_dir(deployment), source, before)

    def read_log_forward(self, deployment: Deployment, source: str,
                         after: log_files.Position | None) -> Iterator[log_files.RawLine]:
        return log_files.forward(self._log_dir(deployment), source, after)

    async def follow_logs(self, deployment: Deployment, poll_s: float) -> AsyncIterator[list[log_files.RawLine]]:
        """Polls the files (in a thread: reads never block the event loop) every `poll_s`."""
        follower = log_files.Follower(self._log_dir(deployment), rewind_s=FOLLOW_REWIND_S)
        try:
            while True:
                yield await asyncio.to_thread(follower.poll)
                await asyncio.sleep(poll_s)
        finally:
            follower.close()

    def prune_logs(self, deployment: Deployment, older_than_s: float) -> int:
        running = {r.id.name for r in self.files(deployment).records()} | {GATEWAY}
        return len(log_files.prune(self._log_dir(deployment), older_than_s, running))

    def _log_dir(self, deployment: Deployment) -> Path:
        return self.files(deployment).log_path(GATEWAY).parent

    # --- internals -----------------------------------------------------------------------

    def _gateway_port(self, deployment: Deployment, files: DeploymentFiles, running: bool) -> tuple[int, int | None]:
        """The port to serve on, and the one it moved from (None when it did not move)."""
        kept = files.gateway_port()
        wanted = deployment.gateway_port or kept
        if running and kept:  # a live gateway keeps its port: moving it would drop requests
            return kept, (wanted if wanted != kept else None)
        if wanted is None:
            return free_port(self.host), None
        if is_free(wanted, self.host):
            return wanted, None
        return free_port(self.host), wanted

    def _replica_conf(self, files: DeploymentFiles, rid: ReplicaId, program: str) -> str:
        argv = [sys.executable, "-m", "deployments.backends.launch", str(files.record_path(rid))]
        return program_conf(program, argv, REPO, files.log_path(rid), self.drain_timeout_s + 10,
                            {"PYTHONPATH": str(REPO), "BERTH_DATA_DIR": str(self.data_dir)}, **self.log_rotation)

    def _gateway_conf(self, files: DeploymentFiles, program: str, port: int) -> str:
        files.log_path(GATEWAY).parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "serving.gateway", "--config", str(files.routes_path),
                "--host", self.host, "--port", str(port)]
        return program_conf(program, argv, REPO, files.log_path(GATEWAY), self.drain_timeout_s + 5,
                            {"PYTHONPATH": str(REPO)}, **self.log_rotation)

    def _gateway_url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def _status(self, files: DeploymentFiles, record: LaunchRecord, info: dict[str, Any] | None,
                client: httpx.Client, main_log: Callable[[], str]) -> ReplicaStatus:
        base: dict[str, Any] = {"id": record.id, "endpoint": record.endpoint,
                                "restarts": max(0, files.starts(record.id) - 1)}
        if info is None and record.removing:
            return ReplicaStatus(**base, state=ReplicaState.STOPPED, reason="being removed")
        if info is None:  # the record is written before the program is added
            return ReplicaStatus(**base, state=ReplicaState.STARTING, reason="being started")
        statename = info["statename"]
        if statename in STOPPED_STATES:
            return ReplicaStatus(**base, state=ReplicaState.STOPPED, reason=f"stopped ({statename.lower()})")
        if statename in CRASHED_STATES:
            lines = tuple(files.tail_log(record.id, 40))
            end = exit_reasons.crash(info, lines, main_log)
            return ReplicaStatus(**base, state=ReplicaState.CRASHED, exit_code=end.code,
                                 memory_killed=end.memory_killed, reason=end.text,
                                 last_log=exit_reasons.readable(lines[-20:]))
        if base["restarts"]:
            end = exit_reasons.previous_exit(info, tuple(files.tail_log(record.id, 40)), main_log)
            base.update(exit_code=end.code, memory_killed=end.memory_killed, last_exit=end.text)
        pid = info.get("pid") or None
        if statename != "RUNNING":
            return ReplicaStatus(**base, state=ReplicaState.STARTING, pid=pid, reason="starting the process")
        state, reason = readiness.running_state(readiness.probe(client, record.endpoint),
                                                max(0, int(info["now"] - info["start"])))
        last_log = exit_reasons.readable(files.tail_log(record.id, 10)) if state == ReplicaState.NOT_READY else ()
        return ReplicaStatus(**base, state=state, pid=pid, reason=reason, last_log=last_log)


def _launch_record(files: DeploymentFiles, deployment: Deployment, rid: ReplicaId, variation: VariationSpec,
                   drain_timeout_s: int) -> LaunchRecord:
    """How to start replica `rid` of `variation`: the model server in the sandbox, on its socket."""
    build = Build.objects.get(build_id=variation.build_id)
    if not build.bundle_dir.is_dir():
        raise BackendError(f"The bundle of build {build.short_id} is missing from {build.bundle_dir}.")
    make_readable(build.bundle_dir)
    socket_dir = files.socket_dir(rid)
    own_socket_dir(socket_dir, sandbox_uid(program_name(deployment.pk, rid)))
    argv = [sys.executable, "-m", "serving.server", "--build", INSIDE_BUNDLE,
            "--uds", f"{INSIDE_SOCKET_DIR}/{SOCKET_NAME}", "--workers", str(variation.server_workers),
            "--timeout-ms", str(variation.request_timeout_ms), "--max-batch-size", str(variation.max_batch_size)]
    sandbox = {"label": program_name(deployment.pk, rid), "bundle": str(build.bundle_dir),
               "socket_dir": str(socket_dir), "network": variation.outbound_network,
               "limits": asdict(replica_limits(variation))}
    return LaunchRecord(
        rid, f"unix:{socket_dir / SOCKET_NAME}", variation.build_id, argv,
        base_env={"BERTH_GRACEFUL_TIMEOUT_S": str(drain_timeout_s)},
        env={**{e.name: e.value for e in variation.env if not e.secret}, **_metadata_env(deployment, variation)},
        secret_env={e.name: e.value for e in variation.env if e.secret},
        starts_file=str(files.starts_path(rid)), sandbox=sandbox)


def replica_limits(variation: VariationSpec) -> Limits:
    """A replica's limits: its instance type's memory per process, the sandbox's counts, no CPU-time cap."""
    from django.conf import settings

    memory_gb = InstanceType.objects.filter(name=variation.instance_type).values_list("memory_gb", flat=True).first()
    return Limits(processes=settings.BERTH_SANDBOX_MAX_PROCESSES + variation.server_workers,
                  open_files=settings.BERTH_SANDBOX_MAX_OPEN_FILES, memory_mb=max(memory_gb or 2, 2) * 1024,
                  file_mb=settings.BERTH_SANDBOX_SCRATCH_MB, scratch_mb=settings.BERTH_SANDBOX_SCRATCH_MB)


def _metadata_env(deployment: Deployment, variation: VariationSpec) -> dict[str, str]:
    env = {"BERTH_MODEL_ID": deployment.model.model_id, "BERTH_VARIATION": variation.name,
           "BERTH_BUILD_ID": variation.build_id, "BERTH_INSTANCE_TYPE": variation.instance_type,
           "BERTH_DAEMON_MODE": "true" if variation.daemon_mode else "false"}
    if variation.iam_role_arn:
        env["BERTH_IAM_ROLE_ARN"] = variation.iam_role_arn
    if variation.service_account_key_secret_name:
        env["BERTH_SERVICE_ACCOUNT_KEY_SECRET_NAME"] = variation.service_account_key_secret_name
    return env


def _route_entry(files: DeploymentFiles, deployment: int, variation: VariationSpec) -> dict[str, Any]:
    """One variation's routes: the endpoints of exactly the replicas the spec asks for."""
    records = [files.record(ReplicaId.of(deployment, variation, i)) for i in range(variation.replicas)]
    return {"name": variation.name, "shadow": variation.shadow, "traffic_percent": variation.traffic_percent,
            "timeout_ms": variation.request_timeout_ms, "endpoints": [r.endpoint for r in records if r]}
