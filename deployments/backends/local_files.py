"""The local runtime's files for one deployment, under BERTH_RUNTIME_DIR/d<pk>/.

`replicas/<name>.json`  how to launch a replica (a LaunchRecord: argv, sandbox, env; secret values
                        still encrypted; mode 0600), read by `deployments.backends.launch`
`sockets/<name>/`       the replica's socket directory (its /run/berth in the sandbox; the
                        gateway connects to `server.sock` there)
`starts/<name>`         one line per start, written by the launcher: restarts are counted exactly
`logs/<name>.log`       the replica's stdout+stderr; `logs/gateway.log` the gateway's
`gateway.json`          the routing table the gateway reads
`state.json`            the gateway's port
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployments.backends.replica_id import ReplicaId

GATEWAY = "gateway"
TAIL_WINDOW = 64 * 1024  # bytes read from the end of a log for its last lines


@dataclass(frozen=True)
class LaunchRecord:
    """How to start one replica; `removing` is set while it is being removed.

    `sandbox` is what `deployments.sandbox.command.Sandbox` needs besides argv: bundle,
    socket_dir, network, limits. A record written before the sandbox existed has none, and
    the launcher refuses it.
    """
    id: ReplicaId
    endpoint: str
    build_id: str
    argv: list[str]
    base_env: dict[str, str]
    env: dict[str, str]
    secret_env: dict[str, str]
    starts_file: str
    sandbox: dict[str, Any] | None = None
    removing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.id.name, "variation": self.id.variation, "runtime_key": self.id.runtime_key,
                "index": self.id.index, "endpoint": self.endpoint, "build_id": self.build_id, "argv": self.argv,
                "base_env": self.base_env, "env": self.env, "secret_env": self.secret_env,
                "starts_file": self.starts_file, "sandbox": self.sandbox, "removing": self.removing}

    @classmethod
    def from_json(cls, deployment: int, data: dict[str, Any]) -> LaunchRecord:
        rid = ReplicaId(deployment, data["variation"], data["runtime_key"], int(data["index"]))
        endpoint = data.get("endpoint") or f"http://127.0.0.1:{data['port']}"
        return cls(rid, endpoint, data["build_id"], data["argv"], data["base_env"], data["env"],
                   data["secret_env"], data["starts_file"], data.get("sandbox"), bool(data.get("removing")))


class DeploymentFiles:
    """Where one deployment's files are, and reading and writing them."""

    def __init__(self, runtime_dir: Path, deployment: int) -> None:
        self.deployment = deployment
        self.root = runtime_dir / f"d{deployment}"

    # --- paths ---------------------------------------------------------------------------

    def record_path(self, rid: ReplicaId) -> Path:
        return self.root / "replicas" / f"{rid.name}.json"

    def starts_path(self, rid: ReplicaId) -> Path:
        return self.root / "starts" / rid.name

    def socket_dir(self, rid: ReplicaId) -> Path:
        return self.root / "sockets" / rid.name

    def log_path(self, replica: ReplicaId | str) -> Path:
        """A replica's log; `"gateway"` for the gateway's."""
        return self.root / "logs" / f"{replica}.log"

    @property
    def routes_path(self) -> Path:
        return self.root / "gateway.json"

    # --- launch records ------------------------------------------------------------------

    def records(self) -> list[LaunchRecord]:
        folder = self.root / "replicas"
        found = []
        for path in folder.glob("*.json") if folder.exists() else []:
            try:
                found.append(self._read_record(path))
            except FileNotFoundError:  # forgotten while we listed
                continue
        return sorted(found, key=lambda r: r.id)

    def record(self, rid: ReplicaId) -> LaunchRecord | None:
        path = self.record_path(rid)
        return self._read_record(path) if path.exists() else None

    def write_record(self, record: LaunchRecord) -> None:
        for folder in ("starts", "logs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        write_json(self.record_path(record.id), record.to_json())

    def mark_removing(self, rids: list[ReplicaId]) -> None:
        for rid in rids:
            record = self.record(rid)
            if record is not None and not record.removing:
                self.write_record(replace(record, removing=True))

    def forget(self, rid: ReplicaId) -> None:
        self.record_path(rid).unlink(missing_ok=True)
        self.starts_path(rid).unlink(missing_ok=True)
        shutil.rmtree(self.socket_dir(rid), ignore_errors=True)

    def starts(self, rid: ReplicaId) -> int:
        path = self.starts_path(rid)
        return len(path.read_text().splitlines()) if path.exists() else 0

    # --- gateway -------------------------------------------------------------------------

    def gateway_port(self) -> int | None:
        path = self.root / "state.json"
        port = json.loads(path.read_text()).get("gateway_port") if path.exists() else None
        return int(port) if port else None

    def save_gateway_port(self, port: int) -> None:
        write_json(self.root / "state.json", {"gateway_port": port})

    def write_routes(self, config: dict[str, Any]) -> None:
        write_json(self.routes_path, config)

    # --- everything ----------------------------------------------------------------------

    def tail_log(self, replica: ReplicaId | str, lines: int) -> list[str]:
        return tail_file(self.log_path(replica), lines)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _read_record(self, path: Path) -> LaunchRecord:
        return LaunchRecord.from_json(self.deployment, json.loads(path.read_text()))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically, readable by this user only (records hold encrypted secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    tmp.replace(path)


def tail_file(path: Path, lines: int, window: int = TAIL_WINDOW) -> list[str]:
    """The last `lines` whole lines of a file (of its last `window` bytes); [] when it does not exist.

    Only whole lines: not the one the process is still writing (no newline yet), nor the one
    the window starts inside of."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        start = max(0, handle.tell() - window - 1)  # one byte more: is the first line whole?
        handle.seek(start)
        data = handle.read()
    if start > 0:
        data = data.partition(b"\n")[2]
    data = data[: data.rfind(b"\n") + 1]
    return data.decode(errors="replace").splitlines()[-lines:]
