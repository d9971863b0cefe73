"""What the runtime last said about a deployment's replicas, as stored on `Deployment.observed`.

Written only by `deployments.state.observer`; read by pages, the API and the live socket, which never
ask the runtime themselves. `at` is when the runtime last answered; when a later check could
not reach it, `error` says why and `error_at` when, and the replicas stay as last seen.
`gateway_error` says why the deployment's gateway did not answer when the runtime last did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from deployments.backends.base import ReplicaState, ReplicaStatus


@dataclass(frozen=True)
class ObservedReplica:
    name: str
    variation: str
    runtime_key: str
    index: int
    state: str
    restarts: int = 0
    exit_code: int | None = None
    memory_killed: bool = False
    reason: str = ""
    last_exit: str = ""
    last_log: tuple[str, ...] = ()

    @classmethod
    def of(cls, status: ReplicaStatus) -> ObservedReplica:
        return cls(status.name, status.variation, status.runtime_key, status.index, str(status.state),
                   status.restarts, status.exit_code, status.memory_killed, status.reason, status.last_exit,
                   tuple(status.last_log[-20:]))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObservedReplica:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["last_log"] = tuple(known.get("last_log") or ())
        return cls(**known)

    @property
    def ready(self) -> bool:
        return self.state == ReplicaState.READY

    @property
    def crashed(self) -> bool:
        return self.state == ReplicaState.CRASHED


@dataclass(frozen=True)
class Observation:
    at: datetime | None = None          # when the runtime last answered
    replicas: tuple[ObservedReplica, ...] = ()
    error: str = ""                     # why the last check could not reach the runtime
    error_at: datetime | None = None
    gateway_error: str = ""             # why the deployment's gateway did not answer the last check
    by_name: dict[str, ObservedReplica] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({r.name: r for r in self.replicas})

    @classmethod
    def of(cls, statuses: list[ReplicaStatus], at: datetime, gateway_error: str = "") -> Observation:
        return cls(at=at, replicas=tuple(ObservedReplica.of(s) for s in statuses), gateway_error=gateway_error)

    def unreachable(self, error: str, at: datetime) -> Observation:
        """The same replicas as last seen, with why the runtime did not answer now."""
        return replace(self, error=error, error_at=at, by_name={})

    def replica(self, name: str) -> ObservedReplica | None:
        return self.by_name.get(name)

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "error": self.error, "error_at": _iso(self.error_at),
                "gateway_error": self.gateway_error, "replicas": [asdict(r) for r in self.replicas]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Observation:
        data = data or {}
        if "replicas" not in data:  # nothing observed yet
            return cls()
        return cls(at=_parse(data.get("at")), error=str(data.get("error") or ""), error_at=_parse(data.get("error_at")),
                   gateway_error=str(data.get("gateway_error") or ""),
                   replicas=tuple(ObservedReplica.from_json(r) for r in data["replicas"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
