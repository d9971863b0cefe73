"""The local runtime: every replica and every gateway is a supervisord program on 127.0.0.1.

Per deployment, under BERTH_RUNTIME_DIR/d<pk>/: `replicas/<name>.json` (how to launch a
replica: argv, port, env; secret values still encrypted), `starts/<name>` (one line per
start, so restarts are counted exactly), `logs/<name>.log` (stdout+stderr), `gateway.json`
(the routing table the gateway reads) and `state.json` (the gateway's port). supervisord
program names are `berth-d<pk>-<replica>` and `berth-d<pk>-gateway`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from deployments.backends.base import (
    Backend,
    BackendError,
    GatewayStatus,
    ReplicaState,
    ReplicaStatus,
    desired_replicas,
)
from deployments.backends.supervisor_rpc import Supervisor
from deployments.deploy_spec import DeploySpec, VariationSpec
from deployments.models import Build, Deployment
from serving.server import EXIT_LOAD_FAILED

REPO = Path(__file__).resolve().parents[2]
GATEWAY = "gateway"
STARTING_GRACE_S = 60
CRASHED_STATES = {"BACKOFF", "EXITED", "FATAL"}
STOPPED_ON_PURPOSE = ("it was stopped on purpose, not by a crash (for example when Berth and its local runtime "
                      "were stopped and started again)")
STOPPED_STATES = {"STOPPED", "STOPPING", "UNKNOWN"}


class LocalBackend(Backend):
    name = "local"

    def __init__(self, supervisor: Supervisor, runtime_dir: Path, data_dir: Path, host: str = "127.0.0.1",
                 drain_timeout_s: int = 30) -> None:
        self.supervisor = supervisor
        self.runtime_dir = runtime_dir
        self.data_dir = data_dir
        self.host = host
        self.drain_timeout_s = drain_timeout_s

    @classmethod
    def from_settings(cls) -> LocalBackend:
        from django.conf import settings

        return cls(Supervisor(settings.BERTH_SUPERVISOR_URL, Path(settings.BERTH_SUPERVISOR_CONF_DIR)),
                   Path(settings.BERTH_RUNTIME_DIR), Path(settings.DATA_DIR), settings.BERTH_GATEWAY_HOST,
                   settings.BERTH_DRAIN_TIMEOUT_S)

    # --- replicas ------------------------------------------------------------------------

    def apply(self, deployment: Deployment, spec: DeploySpec) -> list[str]:
        self.supervisor.check()
        running = {info["group"] for info in self.supervisor.all()}
        started = []
        for name, (variation, index) in desired_replicas(spec).items():
            program = self._program(deployment, name)
            if program in running:
                continue
            record = self._record(deployment, name) or self._new_record(deployment, variation, index, name)
            self.supervisor.add(program, self._replica_conf(deployment, program, name))
            started.append(record["name"])
        return started

    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        infos = {info["group"]: info for info in self.supervisor.all()}
        records = sorted(self._records(deployment), key=lambda r: (r["variation"], r["runtime_key"], r["index"]))
        with httpx.Client(timeout=1.0) as client:
            return [self._status(deployment, record, infos.get(self._program(deployment, record["name"])), client)
                    for record in records]

    def prune(self, deployment: Deployment, spec: DeploySpec) -> list[str]:
        keep = set(desired_replicas(spec))
        extra = [r["name"] for r in self._records(deployment) if r["name"] not in keep]
        self.supervisor.remove_many([self._program(deployment, n) for n in extra], self.drain_timeout_s + 10)
        for name in extra:
            self._forget(deployment, name)
        return extra

    def delete(self, deployment: Deployment) -> None:
        prefix = self._program(deployment, "")
        programs = {info["group"] for info in self.supervisor.all() if info["group"].startswith(prefix)}
        programs |= {p.stem for p in self.supervisor.conf_dir.glob(f"{prefix}*.conf")}
        self.supervisor.remove_many(sorted(programs), self.drain_timeout_s + 10)
        shutil.rmtree(self._dir(deployment), ignore_errors=True)

    # --- gateway -------------------------------------------------------------------------

    def route(self, deployment: Deployment, spec: DeploySpec) -> GatewayStatus:
        self.supervisor.check()
        state = self._state(deployment)
        if not state.get("gateway_port"):
            state["gateway_port"] = free_port()
            _write_json(self._dir(deployment) / "state.json", state)
        version = uuid.uuid4().hex[:12]
        config = {"version": version, "model_id": deployment.model.model_id, "deployment": deployment.pk,
                  "variations": [self._route_entry(deployment, v) for v in spec.variations]}
        _write_json(self._dir(deployment) / "gateway.json", config)
        program = self._program(deployment, GATEWAY)
        if self.supervisor.info(program) is None:
            self.supervisor.add(program, self._gateway_conf(deployment, program, state["gateway_port"]))
        else:
            self.supervisor.signal(program, "HUP")
        return self._await_gateway(deployment, state["gateway_port"], version)

    def gateway(self, deployment: Deployment) -> GatewayStatus | None:
        port = self._state(deployment).get("gateway_port")
        if not port:
            return None
        try:
            body = httpx.get(f"http://{self.host}:{port}/health/ready", timeout=1.0).json()
        except (httpx.HTTPError, ValueError):
            return GatewayStatus(self._gateway_url(port), port)
        return GatewayStatus(self._gateway_url(port), port, str(body.get("config_version", "")),
                             body.get("status") == "ready")

    # --- logs ----------------------------------------------------------------------------

    def tail_logs(self, deployment: Deployment, replica: str, lines: int = 100) -> list[str]:
        return tail_file(self._log(deployment, replica), lines)

    def stream_logs(self, deployment: Deployment, replica: str, poll_s: float = 0.5) -> Iterator[str]:
        path = self._log(deployment, replica)
        position = path.stat().st_size if path.exists() else 0
        while True:
            if path.exists():
                if path.stat().st_size < position:  # rotated
                    position = 0
                with path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                complete, _, _ = chunk.rpartition(b"\n")
                if complete:
                    position += len(complete) + 1
                    yield from complete.decode(errors="replace").splitlines()
            time.sleep(poll_s)

    # --- internals -----------------------------------------------------------------------

    def _dir(self, deployment: Deployment) -> Path:
        return self.runtime_dir / f"d{deployment.pk}"

    def _program(self, deployment: Deployment, replica: str) -> str:
        return f"berth-d{deployment.pk}-{replica}"

    def _log(self, deployment: Deployment, replica: str) -> Path:
        return self._dir(deployment) / "logs" / f"{replica}.log"

    def _state(self, deployment: Deployment) -> dict[str, Any]:
        path = self._dir(deployment) / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _records(self, deployment: Deployment) -> list[dict[str, Any]]:
        folder = self._dir(deployment) / "replicas"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []

    def _record(self, deployment: Deployment, name: str) -> dict[str, Any] | None:
        path = self._dir(deployment) / "replicas" / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _new_record(self, deployment: Deployment, variation: VariationSpec, index: int, name: str) -> dict[str, Any]:
        from deployments.build_validation import sandbox_env

        build = Build.objects.get(build_id=variation.build_id)
        if not build.bundle_dir.is_dir():
            raise BackendError(f"The bundle of build {build.short_id} is missing from {build.bundle_dir}.")
        port = free_port()
        for folder in ("replicas", "starts", "logs"):
            (self._dir(deployment) / folder).mkdir(parents=True, exist_ok=True)
        record = {
            "name": name, "variation": variation.name, "runtime_key": variation.runtime_key, "index": index,
            "port": port, "build_id": variation.build_id,
            "argv": [sys.executable, "-m", "serving.server", "--build", str(build.bundle_dir), "--host", "127.0.0.1",
                     "--port", str(port), "--workers", str(variation.server_workers),
                     "--timeout-ms", str(variation.request_timeout_ms),
                     "--max-batch-size", str(variation.max_batch_size)],
            "base_env": {**sandbox_env(), "BERTH_GRACEFUL_TIMEOUT_S": str(self.drain_timeout_s)},
            "env": {**{e.name: e.value for e in variation.env if not e.secret}, **_metadata_env(deployment, variation)},
            "secret_env": {e.name: e.value for e in variation.env if e.secret},
            "starts_file": str(self._dir(deployment) / "starts" / name),
        }
        _write_json(self._dir(deployment) / "replicas" / f"{name}.json", record)
        return record

    def _forget(self, deployment: Deployment, name: str) -> None:
        for path in (self._dir(deployment) / "replicas" / f"{name}.json", self._dir(deployment) / "starts" / name):
            path.unlink(missing_ok=True)

    def _replica_conf(self, deployment: Deployment, program: str, name: str) -> str:
        record_path = self._dir(deployment) / "replicas" / f"{name}.json"
        return _program_conf(program, [sys.executable, "-m", "deployments.backends.launch", str(record_path)],
                             self._log(deployment, name), self.drain_timeout_s + 10,
                             {"PYTHONPATH": str(REPO), "BERTH_DATA_DIR": str(self.data_dir)})

    def _gateway_conf(self, deployment: Deployment, program: str, port: int) -> str:
        (self._dir(deployment) / "logs").mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "serving.gateway", "--config", str(self._dir(deployment) / "gateway.json"),
                "--host", self.host, "--port", str(port)]
        return _program_conf(program, argv, self._log(deployment, GATEWAY), self.drain_timeout_s + 5,
                             {"PYTHONPATH": str(REPO)})

    def _route_entry(self, deployment: Deployment, variation: VariationSpec) -> dict[str, Any]:
        names = [f"{variation.name}-{variation.runtime_key}-{i}" for i in range(variation.replicas)]
        records = [self._record(deployment, n) for n in names]
        return {"name": variation.name, "shadow": variation.shadow, "traffic_percent": variation.traffic_percent,
                "timeout_ms": variation.request_timeout_ms,
                "endpoints": [f"http://127.0.0.1:{r['port']}" for r in records if r]}

    def _await_gateway(self, deployment: Deployment, port: int, version: str) -> GatewayStatus:
        deadline = time.monotonic() + 30
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://{self.host}:{port}/health/ready", timeout=1.0).json()
                if body.get("config_version") == version:
                    return GatewayStatus(self._gateway_url(port), port, version, body.get("status") == "ready")
                last = f"serving config {body.get('config_version')}"
            except (httpx.HTTPError, ValueError) as exc:
                last = str(exc) or type(exc).__name__
            time.sleep(0.1)
        tail = "\n".join(tail_file(self._log(deployment, GATEWAY), 10))
        raise BackendError(f"The gateway on port {port} did not take the new routes within 30 s ({last}).\n{tail}")

    def _gateway_url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def _status(self, deployment: Deployment, record: dict[str, Any], info: dict[str, Any] | None,
                client: httpx.Client) -> ReplicaStatus:
        starts_file = Path(record["starts_file"])
        starts = len(starts_file.read_text().splitlines()) if starts_file.exists() else 0
        base = {"name": record["name"], "variation": record["variation"], "runtime_key": record["runtime_key"],
                "index": record["index"], "endpoint": f"http://127.0.0.1:{record['port']}",
                "restarts": max(0, starts - 1)}
        if info is None:
            return ReplicaStatus(**base, state=ReplicaState.STOPPED, reason="not running (removed from supervisord)")
        statename = info["statename"]
        if statename in STOPPED_STATES:
            return ReplicaStatus(**base, state=ReplicaState.STOPPED, reason=f"stopped ({statename.lower()})")
        if statename in CRASHED_STATES:
            return self._crashed(deployment, record, info, base)
        if base["restarts"]:
            base.update(self._last_exit(deployment, record, info))
        pid = info.get("pid") or None
        if statename == "RUNNING":
            error = _probe(client, base["endpoint"])
            if error is None:
                return ReplicaStatus(**base, state=ReplicaState.READY, pid=pid)
            uptime = max(0, int(info["now"] - info["start"]))
            if uptime < STARTING_GRACE_S:
                return ReplicaStatus(**base, state=ReplicaState.STARTING, pid=pid,
                                     reason=f"loading the model ({uptime} s so far)")
            return ReplicaStatus(**base, state=ReplicaState.NOT_READY, pid=pid,
                                 reason=f"readiness check failing for {uptime} s: {error}",
                                 last_log=_readable(tail_file(self._log(deployment, record["name"]), 10)))
        return ReplicaStatus(**base, state=ReplicaState.STARTING, pid=pid, reason="starting the process")

    def _crashed(self, deployment: Deployment, record: dict[str, Any], info: dict[str, Any],
                 base: dict[str, Any]) -> ReplicaStatus:
        lines = tuple(tail_file(self._log(deployment, record["name"]), 40))
        code = self._exit_code(info)
        memory = _memory_killed(code, lines)
        reason = describe_exit(code, memory, info.get("spawnerr") or "", lines)
        if info["statename"] == "FATAL":
            reason += " supervisord gave up restarting it."
        return ReplicaStatus(**base, state=ReplicaState.CRASHED, exit_code=code, memory_killed=memory,
                             reason=reason, last_log=_readable(lines[-20:]))

    def _last_exit(self, deployment: Deployment, record: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """Why a running replica's previous process ended: a crash, or a deliberate stop."""
        main_log = self.supervisor.main_log_tail()
        if _stopped_on_purpose(main_log, info["name"]):
            return {"last_exit": STOPPED_ON_PURPOSE}
        code = self._exit_code(info, main_log)
        lines = tuple(tail_file(self._log(deployment, record["name"]), 40))
        memory = _memory_killed(code, lines)
        return {"exit_code": code, "memory_killed": memory, "last_exit": describe_exit(code, memory, "", lines)}

    def _exit_code(self, info: dict[str, Any], main_log: str | None = None) -> int | None:
        """The last exit (-N: killed by signal N). supervisord's exitstatus holds it only in EXITED:
        a process that exits before `startsecs` goes to BACKOFF (then FATAL) with exitstatus
        reported as 0, so there, and while running again, its main log says what happened."""
        code: int | None = info.get("exitstatus")
        if info["statename"] == "EXITED" and code not in (-1, None):
            return code
        logged = _exit_from_main_log(main_log if main_log is not None else self.supervisor.main_log_tail(),
                                     info["name"])
        return logged if logged is not None else code


def describe_exit(code: int | None, memory_killed: bool, spawn_error: str, lines: tuple[str, ...]) -> str:
    """Why a replica exited, in words a person can act on."""
    if spawn_error and not spawn_error.startswith(("Bad exit code", "Exited too quickly")):
        text = f"could not be started: {spawn_error}."
    elif memory_killed:
        text = ("was killed with SIGKILL, usually by the kernel for using too much memory; "
                "choose a larger instance type or fewer server workers.")
    elif code == EXIT_LOAD_FAILED:
        text = f"exited with code {code}: the model could not be loaded"
        load_error = _load_error(lines)
        text += f" ({load_error})." if load_error else "."
    elif code is not None and code < 0:
        text = f"was killed by signal {-code}."
    else:
        text = f"exited with code {code}."
    tail = "\n".join(readable_log_line(line) for line in lines[-5:])
    return f"The replica {text}" + (f" Last log lines:\n{tail}" if tail else "")


def _readable(lines: Iterable[str]) -> tuple[str, ...]:
    return tuple(readable_log_line(line) for line in lines)


def readable_log_line(line: str) -> str:
    """A model server's JSON log line as a person reads it: `12:03:21 error model_load_failed: …`."""
    if not line.startswith("{"):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "event" not in record:
        return line
    detail = next((str(record[key]) for key in ("error", "reason", "message") if record.get(key)), "")
    when = str(record.get("ts", ""))[11:19]
    text = f"{when} {record.get('level', 'info')} {record['event']}".strip()
    return f"{text}: {detail}" if detail else text


def _memory_killed(code: int | None, lines: tuple[str, ...]) -> bool:
    return code == -9 or any('"exit_code":-9' in line or "MemoryError" in line for line in lines[-20:])


def _load_error(lines: tuple[str, ...]) -> str:
    for line in reversed(lines):
        if "model_load_failed" in line:
            try:
                return str(json.loads(line).get("error", ""))
            except ValueError:
                return ""
    return ""


def _exit_from_main_log(log: str, program: str) -> int | None:
    matches = re.findall(rf"exited: {re.escape(program)} \((?:exit status (\d+)|terminated by SIG([A-Z0-9]+))", log)
    if not matches:
        return None
    status, signal_name = matches[-1]
    if status:
        return int(status)
    import signal

    try:
        return -int(signal.Signals[f"SIG{signal_name}"])
    except KeyError:
        return None


def _stopped_on_purpose(log: str, program: str) -> bool:
    """The program's last end was a stop supervisord was asked for (its own shutdown included)."""
    ends = re.findall(rf"(exited|stopped): {re.escape(program)} \(", log)
    return bool(ends) and ends[-1] == "stopped"


def _probe(client: httpx.Client, endpoint: str) -> str | None:
    """None when the replica is ready, else what the readiness check saw."""
    try:
        response = client.get(f"{endpoint}/health/ready")
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if response.status_code == 200:
        return None
    return f"HTTP {response.status_code} {response.text[:200]}"


def _metadata_env(deployment: Deployment, variation: VariationSpec) -> dict[str, str]:
    env = {"BERTH_MODEL_ID": deployment.model.model_id, "BERTH_VARIATION": variation.name,
           "BERTH_BUILD_ID": variation.build_id, "BERTH_INSTANCE_TYPE": variation.instance_type,
           "BERTH_DAEMON_MODE": "true" if variation.daemon_mode else "false"}
    if variation.iam_role_arn:
        env["BERTH_IAM_ROLE_ARN"] = variation.iam_role_arn
    if variation.service_account_key_secret_name:
        env["BERTH_SERVICE_ACCOUNT_KEY_SECRET_NAME"] = variation.service_account_key_secret_name
    return env


def _program_conf(program: str, argv: list[str], log: Path, stop_wait_s: int, env: dict[str, str]) -> str:
    environment = ",".join(f'{k}="{_escape(v)}"' for k, v in env.items())
    return f"""[program:{program}]
command={" ".join(_escape(a) for a in argv)}
directory={_escape(str(REPO))}
environment={environment}
autostart=true
autorestart=true
startsecs=1
startretries=100
stopsignal=TERM
stopwaitsecs={stop_wait_s}
killasgroup=true
redirect_stderr=true
stdout_logfile={_escape(str(log))}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=1
"""


def _escape(text: str) -> str:
    """supervisord expands %(name)s in values: a literal % is %%; argv must have no spaces."""
    if any(ch.isspace() for ch in text) or '"' in text:
        raise BackendError(f"{text!r}: paths with spaces or quotes are not supported by the local runtime")
    return text.replace("%", "%%")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    tmp.replace(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail_file(path: Path, lines: int) -> list[str]:
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return text.splitlines()[-lines:]
