"""The one writer of a deployment's status and reason.

`settle(deployment)` decides both from two stored facts — the rollouts (is one queued or in
progress? which revision serves? did the last one fail?) and the runtime's last observation
(deployments/state/observation.py) — saves them, and publishes the change once. Nothing else
assigns `Deployment.status`: the rollout engine, the health check and deploy requests change
rollouts or observations, then call `settle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from deployments.backends.replica_id import desired_replicas
from deployments.models import (
    Deployment,
    DeploymentStatus,
    EventKind,
    EventLevel,
    Rollout,
    RolloutAction,
    RolloutStatus,
)
from deployments.rollouts.events import publish_deployment, record_event
from deployments.rollouts.spec import DeploySpec
from deployments.state.observation import Observation


@dataclass(frozen=True)
class Progress:
    """How many replicas of a spec the runtime last saw ready."""
    ready: int
    desired: int

    def __str__(self) -> str:
        return f"{self.ready} of {self.desired} ready"


def progress(deployment: Deployment, spec: DeploySpec | None, observation: Observation) -> Progress:
    if spec is None:
        return Progress(0, 0)
    wanted = desired_replicas(deployment.pk, spec)
    ready = sum(1 for rid in wanted if (seen := observation.replica(rid.name)) is not None and seen.ready)
    return Progress(ready, len(wanted))


def serving_spec(deployment: Deployment) -> DeploySpec | None:
    """The spec of the revision that serves now, or None when nothing serves."""
    if deployment.current_rollout is None or deployment.status == DeploymentStatus.STOPPED:
        return None
    return DeploySpec.from_json(deployment.current_rollout.spec)


def target_spec(active: Rollout | None) -> DeploySpec | None:
    """The spec a rollout in progress converges to (None for none, or for an undeploy)."""
    if active is None or active.action == RolloutAction.UNDEPLOY:
        return None
    return DeploySpec.from_json(active.spec)


def decide(deployment: Deployment, observation: Observation, active: Rollout | None,
           latest: Rollout | None) -> tuple[str, str]:
    """(status, reason) from the rollouts and the last observation; pure, so it reads the same everywhere."""
    if active is not None:
        return _while_rolling_out(deployment, observation, active)
    if deployment.current_rollout is None:
        if latest is not None and latest.action == RolloutAction.UNDEPLOY and latest.status == RolloutStatus.SUCCEEDED:
            return DeploymentStatus.STOPPED, "Undeployed: no replica runs and the endpoint does not answer."
        if latest is not None and latest.status == RolloutStatus.FAILED:
            return DeploymentStatus.FAILED, f"Revision {latest.revision} failed: {latest.reason}"
        return DeploymentStatus.PENDING, "Nothing was rolled out yet."
    status, reason = _serving(deployment, observation)
    if latest is not None and latest.status == RolloutStatus.FAILED and latest.pk != deployment.current_rollout_id:
        serving = deployment.current_rollout.revision
        verb = "Undeploying" if latest.action == RolloutAction.UNDEPLOY else f"Revision {latest.revision}"
        note = f"{verb} failed; revision {serving} keeps serving."
        reason = f"{note} {reason}".strip()
    return status, reason


def _serving(deployment: Deployment, observation: Observation) -> tuple[str, str]:
    spec = serving_spec(deployment)
    if spec is None:
        return DeploymentStatus.STOPPED, ""
    problems = []
    for rid in desired_replicas(deployment.pk, spec):
        seen = observation.replica(rid.name)
        if seen is None:
            problems.append(f"{rid.name}: not running")
        elif not seen.ready:
            problems.append(f"{rid.name}: {seen.reason or seen.state}")
    reasons = [f"Not serving — {observation.gateway_error}."] if observation.gateway_error else []
    reasons += ["Not ready — " + "; ".join(problems)] if problems else []
    if not reasons:
        return DeploymentStatus.RUNNING, ""
    return DeploymentStatus.DEGRADED, " ".join(reasons)


def _while_rolling_out(deployment: Deployment, observation: Observation, active: Rollout) -> tuple[str, str]:
    if active.action == RolloutAction.UNDEPLOY:
        return DeploymentStatus.UNDEPLOYING, f"Undeploying (revision {active.revision}): stopping every replica " \
                                             "and the gateway."
    if active.status == RolloutStatus.PENDING:
        return DeploymentStatus.DEPLOYING, f"Revision {active.revision} ({active.get_action_display().lower()}) " \
                                           "is queued; it starts when a worker picks it up."
    target = DeploySpec.from_json(active.spec)
    now = progress(deployment, target, observation)
    if active.action == RolloutAction.SCALE:
        sizes = ", ".join(f"{v.name} to {v.replicas}" for v in target.variations)
        return DeploymentStatus.DEPLOYING, f"Scaling {sizes} · {now}."
    text = f"Rolling out revision {active.revision} · {now}."
    serving = serving_spec(deployment)
    if serving is not None and deployment.current_rollout is not None:
        text += f" Revision {deployment.current_rollout.revision} serves meanwhile " \
                f"({progress(deployment, serving, observation)})."
    return DeploymentStatus.DEPLOYING, text


def settle(deployment: Deployment) -> bool:
    """Decide and store the status from what is stored now; publish and record it if it changed."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update(of=("self",)).select_related("current_rollout").get(
            pk=deployment.pk)
        rollouts = locked.rollouts.order_by("-revision")
        active = rollouts.filter(status__in=RolloutStatus.active()).first()
        status, reason = decide(locked, Observation.from_json(locked.observed), active, rollouts.first())
        changed = (status, reason) != (locked.status, locked.status_reason)
        if changed:
            was = locked.status
            locked.status, locked.status_reason = status, reason
            locked.save(update_fields=["status", "status_reason", "updated_at"])
            health = (DeploymentStatus.RUNNING, DeploymentStatus.DEGRADED)
            if status != was and was in health and status in health:
                record_event(locked, EventKind.STATUS_CHANGED, f"Deployment is {status}. {reason}".strip(),
                             level=EventLevel.WARNING if status == DeploymentStatus.DEGRADED else EventLevel.INFO)
            publish_deployment(locked)
    deployment.status, deployment.status_reason = status, reason
    return changed
