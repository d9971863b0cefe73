"""What the deployment page, the API and the live socket say about replicas, honestly.

`report(deployment)` asks the backend for every replica now (falling back to what the
health check last stored when the runtime does not answer) and never calls a deployment
Running while a replica of the serving revision is not ready: it then says Degraded and why.
"""

from __future__ import annotations

import logging
import xmlrpc.client
from dataclasses import dataclass, field

from deployments.backends.base import BackendError, ReplicaState, ReplicaStatus, desired_replicas, get_backend
from deployments.deploy_spec import DeploySpec
from deployments.models import Deployment, DeploymentStatus, Variation

log = logging.getLogger(__name__)

STATE_WORDS = {
    ReplicaState.STARTING: "starting",
    ReplicaState.READY: "ready",
    ReplicaState.NOT_READY: "not ready",
    ReplicaState.CRASHED: "crashing",
    ReplicaState.STOPPED: "stopped",
}


@dataclass
class ReplicaRow:
    name: str
    variation: str
    state: str
    serving: bool           # part of the revision that serves now (not a new or an old one)
    reason: str = ""
    restarts: int = 0
    last_exit: str = ""
    last_log: tuple[str, ...] = ()

    @property
    def state_label(self) -> str:
        state = _state(self.state)
        return STATE_WORDS[state] if state is not None else self.state

    @property
    def ready(self) -> bool:
        return self.state == ReplicaState.READY


@dataclass
class VariationRow:
    name: str
    build_id: str
    instance_type: str
    traffic_percent: int
    shadow: bool
    desired: int
    replicas: list[ReplicaRow] = field(default_factory=list)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.replicas if r.serving and r.ready)

    @property
    def crashing(self) -> int:
        return sum(1 for r in self.replicas if r.state == ReplicaState.CRASHED)


@dataclass
class DeploymentReport:
    status: str
    status_label: str
    reason: str
    variations: list[VariationRow]
    live: bool              # replica states come from the runtime now (else: as last observed)

    @property
    def ready(self) -> int:
        return sum(v.ready for v in self.variations)

    @property
    def desired(self) -> int:
        return sum(v.desired for v in self.variations)

    @property
    def crashing(self) -> int:
        return sum(v.crashing for v in self.variations)


def report(deployment: Deployment) -> DeploymentReport:
    spec = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.current_rollout else DeploySpec()
    if deployment.status == DeploymentStatus.STOPPED:
        spec = DeploySpec()
    wanted = desired_replicas(spec)
    statuses, live = _replicas(deployment, wanted)
    variations = [VariationRow(v.name, v.build_id, v.instance_type, v.traffic_percent, v.shadow, v.replicas)
                  for v in spec.variations]
    by_name = {v.name: v for v in variations}
    for status in statuses:
        row = ReplicaRow(status.name, status.variation, str(status.state), status.name in wanted, status.reason,
                         status.restarts, status.last_exit, tuple(status.last_log[-10:]))
        if status.variation not in by_name:  # a variation the new revision adds
            by_name[status.variation] = VariationRow(status.variation, "", "", 0, False, 0)
            variations.append(by_name[status.variation])
        by_name[status.variation].replicas.append(row)
    state, reason = _honest_status(deployment, variations, live)
    return DeploymentReport(state, DeploymentStatus(state).label, reason, variations, live)


def _replicas(deployment: Deployment, wanted: dict) -> tuple[list[ReplicaStatus], bool]:
    busy = deployment.status in DeploymentStatus.transient()
    if not wanted and not busy:
        return [], True
    try:
        return get_backend().replicas(deployment), True
    except (BackendError, OSError, xmlrpc.client.Error) as exc:
        log.info("runtime did not answer for deployment %s: %s", deployment.pk, exc)
    observed = deployment.observed or {}
    return [_from_observed(name, spec_index[0].name, spec_index[1], observed.get(name))
            for name, spec_index in wanted.items()], False


def _from_observed(name: str, variation: str, index: int, seen: dict | None) -> ReplicaStatus:
    state = _state((seen or {}).get("state")) or ReplicaState.STARTING
    return ReplicaStatus(name=name, variation=variation, runtime_key="", index=index, endpoint="", state=state,
                         restarts=int((seen or {}).get("restarts", 0)))


def _state(value: object) -> ReplicaState | None:
    try:
        return ReplicaState(str(value))
    except ValueError:
        return None


def _honest_status(deployment: Deployment, variations: list[VariationRow], live: bool) -> tuple[str, str]:
    status, reason = deployment.status, deployment.status_reason
    if status != DeploymentStatus.RUNNING or not live:
        return status, reason
    problems = [f"{r.name} is {r.state_label}" + (f": {r.reason}" if r.reason else "")
                for v in variations for r in v.replicas if r.serving and not r.ready]
    missing = sum(v.desired for v in variations) - sum(1 for v in variations for r in v.replicas if r.serving)
    if missing > 0:
        problems.append(f"{missing} replica(s) not running")
    if problems:
        return DeploymentStatus.DEGRADED, "Not ready — " + "; ".join(problems)
    return status, reason


def variation_rows(deployment: Deployment) -> list[Variation]:
    """The Variation rows of the serving revision, with what the Configuration tab shows."""
    return list(deployment.variations.select_related("build", "instance_type"))
