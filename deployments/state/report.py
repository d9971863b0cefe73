"""What the deployment page, the API and the live socket say about replicas: stored state only.

`report(deployment)` reads the status the one writer decided (deployments/state/status.py)
and the runtime's last observation (deployments/state/observation.py); it never asks the runtime,
so it answers just as fast when the runtime is down, and then says how old the observation is.
Each replica is placed against the revision that serves and the one being rolled out: it
serves, it is starting for the new revision, or it is on its way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from deployments.backends.base import ReplicaState
from deployments.backends.replica_id import desired_replicas
from deployments.models import Deployment, DeploymentStatus, Rollout, RolloutAction, RolloutStatus
from deployments.rollouts.spec import DeploySpec
from deployments.state.observation import Observation, ObservedReplica
from deployments.state.status import Progress, progress, serving_spec, target_spec

STATE_WORDS = {
    ReplicaState.STARTING: "starting",
    ReplicaState.READY: "ready",
    ReplicaState.NOT_READY: "not ready",
    ReplicaState.CRASHED: "crashing",
    ReplicaState.STOPPED: "stopped",
}
STALE_AFTER_S = 30


class Role:
    SERVING = "serving"      # part of the revision that serves now
    STARTING = "starting"    # started for the revision being rolled out
    LEAVING = "leaving"      # of neither: drained and removed by the rollout


@dataclass
class ReplicaRow:
    name: str
    variation: str
    state: str
    role: str
    reason: str = ""
    restarts: int = 0
    last_exit: str = ""
    last_log: tuple[str, ...] = ()

    @property
    def state_label(self) -> str:
        try:
            return STATE_WORDS[ReplicaState(self.state)]
        except ValueError:
            return self.state

    @property
    def ready(self) -> bool:
        return self.state == ReplicaState.READY

    @property
    def serving(self) -> bool:
        return self.role == Role.SERVING


@dataclass
class VariationRow:
    name: str
    build_id: str
    instance_type: str
    traffic_percent: int
    shadow: bool
    desired: int            # replicas the serving revision asks for
    target: int | None = None  # replicas the revision being rolled out asks for, if it changes this variation
    replicas: list[ReplicaRow] = field(default_factory=list)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.replicas if r.serving and r.ready)

    @property
    def crashing(self) -> int:
        return sum(1 for r in self.replicas if r.state == ReplicaState.CRASHED)

    @property
    def scale_value(self) -> int:
        """What the scale box shows: the count asked for last, even while it is rolling out."""
        return self.target if self.target is not None else self.desired


@dataclass
class DeploymentReport:
    status: str
    status_label: str
    reason: str
    variations: list[VariationRow]
    active: Rollout | None
    serving: Progress           # the revision that serves now
    rolling_out: Progress | None  # the revision being rolled out, if any (not for an undeploy)
    observed_at: datetime | None
    runtime_error: str
    now: datetime

    @property
    def ready(self) -> int:
        return self.serving.ready

    @property
    def desired(self) -> int:
        return self.serving.desired

    @property
    def crashing(self) -> int:
        return sum(v.crashing for v in self.variations)

    @property
    def age_s(self) -> int | None:
        return int((self.now - self.observed_at).total_seconds()) if self.observed_at else None

    @property
    def live(self) -> bool:
        """The runtime answered the last check, and that check is recent."""
        return not self.runtime_error and self.age_s is not None and self.age_s <= STALE_AFTER_S

    @property
    def counts(self) -> str:
        """The header's one line: what serves now and, during a rollout, what is starting."""
        serving = f"{self.serving.ready}/{self.serving.desired} replicas ready" if self.serving.desired else ""
        if self.active is None or self.rolling_out is None:
            return serving
        if self.active.action == RolloutAction.SCALE:
            return f"Scaling to {self.rolling_out.desired} · {self.rolling_out}"
        starting = f"revision {self.active.revision}: {self.rolling_out}"
        if not serving:
            return starting
        return f"serving: {serving} · {starting}"

    @property
    def freshness(self) -> str:
        """How old what the page shows is, in words ("" while it is fresh)."""
        if self.observed_at is None:
            return "The runtime was not asked yet." if self.runtime_error else ""
        if self.runtime_error:
            return f"Last checked {self.age_s} s ago; the runtime does not answer ({self.runtime_error})."
        if not self.live:
            return f"Last checked {self.age_s} s ago."
        return ""


def report(deployment: Deployment) -> DeploymentReport:
    observation = Observation.from_json(deployment.observed)
    active = deployment.rollouts.filter(status__in=RolloutStatus.active()).first()
    serving, target = serving_spec(deployment), target_spec(active)
    variations = _variation_rows(serving, target)
    _place_replicas(deployment, variations, observation, serving, target)
    rolling_out = progress(deployment, target, observation) if target is not None else None
    return DeploymentReport(deployment.status, DeploymentStatus(deployment.status).label, deployment.status_reason,
                            variations, active, progress(deployment, serving, observation), rolling_out,
                            observation.at, observation.error, timezone.now())


def _variation_rows(serving: DeploySpec | None, target: DeploySpec | None) -> list[VariationRow]:
    rows = {v.name: VariationRow(v.name, v.build_id, v.instance_type, v.traffic_percent, v.shadow, v.replicas)
            for v in (serving.variations if serving else [])}
    for v in target.variations if target else []:
        if v.name not in rows:  # a variation the new revision adds
            rows[v.name] = VariationRow(v.name, v.build_id, v.instance_type, v.traffic_percent, v.shadow, 0)
        rows[v.name].target = v.replicas
    return list(rows.values())


def _place_replicas(deployment: Deployment, variations: list[VariationRow], observation: Observation,
                    serving: DeploySpec | None, target: DeploySpec | None) -> None:
    serving_names = {rid.name for rid in desired_replicas(deployment.pk, serving)} if serving else set()
    target_names = {rid.name for rid in desired_replicas(deployment.pk, target)} if target else set()
    by_name = {v.name: v for v in variations}
    for replica in observation.replicas:
        role = Role.SERVING if replica.name in serving_names else \
            Role.STARTING if replica.name in target_names else Role.LEAVING
        row = by_name.get(replica.variation)
        if row is None:  # a variation on its way out
            row = by_name[replica.variation] = VariationRow(replica.variation, "", "", 0, False, 0)
            variations.append(row)
        row.replicas.append(_row(replica, role))


def _row(replica: ObservedReplica, role: str) -> ReplicaRow:
    return ReplicaRow(replica.name, replica.variation, replica.state, role, replica.reason, replica.restarts,
                      replica.last_exit, replica.last_log[-10:])

