"""Honest deployment status between rollouts: notice crashed and restarted replicas.

`observe(deployment)` compares what the backend reports with what was seen last time
(Deployment.observed), records replica_crashed / replica_restarted events, and sets the
status to running (every replica ready) or degraded (with the reason per replica).
The `refresh_health` periodic task calls it for every serving deployment.
"""

from __future__ import annotations

from django.db import transaction

from deployments.backends.base import Backend, ReplicaState, ReplicaStatus, desired_replicas
from deployments.deploy_spec import DeploySpec
from deployments.events import publish_deployment, record_event
from deployments.models import Deployment, DeploymentStatus, EventKind, EventLevel, RolloutStatus


def observe(deployment: Deployment, backend: Backend) -> str:
    """Update the status of a serving deployment from its replicas; return the status."""
    if deployment.current_rollout is None or deployment.rollouts.filter(status__in=RolloutStatus.active()).exists():
        return deployment.status
    wanted = desired_replicas(DeploySpec.from_json(deployment.current_rollout.spec))
    statuses = [s for s in backend.replicas(deployment) if s.name in wanted]
    seen = dict(deployment.observed or {})
    with transaction.atomic():
        for status in statuses:
            before = seen.get(status.name, {"restarts": status.restarts, "state": ReplicaState.READY})
            if status.restarts > before["restarts"]:
                why, level = _why_restarted(status)
                record_event(deployment, EventKind.REPLICA_RESTARTED,
                             f"Replica {status.name} was restarted by the runtime{why} (restart {status.restarts}).",
                             level=level, variation=status.variation, replica=status.name,
                             exit_code=status.exit_code, restarts=status.restarts)
            elif status.state == ReplicaState.CRASHED and before["state"] != ReplicaState.CRASHED:
                record_event(deployment, EventKind.REPLICA_CRASHED, f"Replica {status.name} crashed: {status.reason}",
                             level=EventLevel.ERROR, variation=status.variation, replica=status.name,
                             exit_code=status.exit_code, memory_killed=status.memory_killed)
            seen[status.name] = {"restarts": status.restarts, "state": str(status.state)}
        missing = sorted(set(wanted) - {s.name for s in statuses})
        problems = [f"{s.name}: {s.reason or s.state}" for s in statuses if not s.ready]
        problems += [f"{name}: not running" for name in missing]
        overall = DeploymentStatus.DEGRADED if problems else DeploymentStatus.RUNNING
        reason = "Not ready — " + "; ".join(problems) if problems else ""
        changed = overall != deployment.status
        deployment.observed = seen
        deployment.status, deployment.status_reason = overall, reason
        deployment.save(update_fields=["observed", "status", "status_reason", "updated_at"])
        if changed:
            record_event(deployment, EventKind.STATUS_CHANGED, f"Deployment is {overall}. {reason}".strip(),
                         level=EventLevel.WARNING if problems else EventLevel.INFO)
            publish_deployment(deployment)
    return overall


def _why_restarted(status: ReplicaStatus) -> tuple[str, EventLevel]:
    """How the previous process ended, for the restart event; a requested stop is no warning."""
    if status.exit_code is None and status.last_exit:
        return f"; {status.last_exit}", EventLevel.INFO
    if status.exit_code == -9:
        return " after it was killed with SIGKILL (often: out of memory)", EventLevel.WARNING
    if status.exit_code is not None:
        return f" after exiting with code {status.exit_code}", EventLevel.WARNING
    return "", EventLevel.WARNING
