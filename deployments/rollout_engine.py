"""Running a rollout: converge the backend to the frozen spec, then switch traffic, or fail safely.

Steps: start what the new revision needs next to what serves now → wait until every new
replica is ready (fail on a crash loop or the deploy timeout) → point the gateway at the new
replicas → drain and remove the old ones → record the new revision as serving. On failure
the new replicas are removed and the previous revision keeps serving. Every step is
idempotent, so a retried task simply continues.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction

from console.locks import held_lock, lock_ttl_s
from deployments.backends.base import Backend, BackendError, GatewayStatus, ReplicaState, desired_replicas, get_backend
from deployments.deploy_spec import DeploySpec
from deployments.events import publish_deployment, record_event
from deployments.models import (
    Build,
    Deployment,
    DeploymentStatus,
    EventKind,
    EventLevel,
    InstanceType,
    Rollout,
    RolloutAction,
    RolloutStatus,
    Variation,
)

log = logging.getLogger(__name__)


class RolloutFailed(Exception):
    """The new revision can't serve; the message says why, for people."""


def lock_name(deployment_pk: int) -> str:
    return f"deployment:{deployment_pk}"


def execute(rollout_id: int) -> str:
    rollout = Rollout.objects.filter(pk=rollout_id).first()
    if rollout is None or not rollout.is_active:
        return "nothing to do"
    # A redelivered task (its worker was killed) waits out the dead attempt's lock, then resumes.
    with held_lock(lock_name(rollout.deployment_id), wait_s=lock_ttl_s() + 10) as acquired:
        if not acquired:
            return "already running elsewhere"
        return RolloutRun(rollout_id, get_backend()).run()


class RolloutRun:
    def __init__(self, rollout_id: int, backend: Backend) -> None:
        self.rollout_id = rollout_id
        self.backend = backend
        self.switched = False

    def run(self) -> str:
        with transaction.atomic():
            rollout = Rollout.objects.select_for_update().select_related("deployment__model").get(pk=self.rollout_id)
            if not rollout.is_active:
                return "nothing to do"
            self.rollout, self.deployment = rollout, rollout.deployment
            if rollout.attempts >= settings.BERTH_ROLLOUT_MAX_ATTEMPTS:
                self._finish_failed(f"The rollout was interrupted {rollout.attempts} times (the worker stopped "
                                    "while it ran); the previous revision keeps serving. Try again.")
                return RolloutStatus.FAILED
            rollout.start()
            busy = DeploymentStatus.UNDEPLOYING if rollout.action == RolloutAction.UNDEPLOY \
                else DeploymentStatus.DEPLOYING
            self.deployment.set_status(busy, f"Rolling out revision {rollout.revision}.")
            attempt = f" (attempt {rollout.attempts})" if rollout.attempts > 1 else ""
            record_event(self.deployment, EventKind.STARTED, f"Revision {rollout.revision} started{attempt}.",
                         rollout=rollout)
            publish_deployment(self.deployment)
        self.previous = _serving_spec(self.deployment)
        try:
            if rollout.action == RolloutAction.UNDEPLOY:
                self._undeploy()
            else:
                self._converge(DeploySpec.from_json(rollout.spec))
        except (RolloutFailed, BackendError) as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("rollout %s crashed", self.rollout_id)
            self._fail(f"Internal error while rolling out ({type(exc).__name__}: {exc}); see the worker log.")
        return self.rollout.status

    # --- the steps -----------------------------------------------------------------------

    def _converge(self, spec: DeploySpec) -> None:
        for name in self.backend.apply(self.deployment, spec):
            variation = name.rsplit("-", 2)[0]
            self._event(EventKind.REPLICA_STARTED, f"Replica {name} started.", variation=variation, replica=name)
        self._await_ready(spec)
        gateway = self.backend.route(self.deployment, spec)
        self.switched = True
        shares = ", ".join(f"{v.name} {v.traffic_percent}%{' (shadow)' if v.shadow else ''}" for v in spec.variations)
        self._event(EventKind.TRAFFIC_SWITCHED, f"Traffic goes to revision {self.rollout.revision}: {shares}.")
        for name in self.backend.prune(self.deployment, spec):
            self._event(EventKind.REPLICA_STOPPED, f"Replica {name} drained and stopped.", replica=name,
                        variation=name.rsplit("-", 2)[0])
        self._succeed(spec, gateway)

    def _await_ready(self, spec: DeploySpec) -> None:
        wanted = desired_replicas(spec)
        timeout_s = spec.deploy_timeout_s
        if settings.BERTH_DEPLOY_TIMEOUT_CAP_S:
            timeout_s = min(timeout_s, settings.BERTH_DEPLOY_TIMEOUT_CAP_S)
        deadline = time.monotonic() + timeout_s
        baseline: dict[str, int] = {}
        crashes_seen: dict[str, int] = {}
        ready: set[str] = set()
        while True:
            statuses = {s.name: s for s in self.backend.replicas(self.deployment) if s.name in wanted}
            missing = set(wanted) - set(statuses)
            if missing:
                self.backend.apply(self.deployment, spec)
            for name, status in statuses.items():
                baseline.setdefault(name, status.restarts)
                crashed_now = status.state == ReplicaState.CRASHED
                crashes = status.restarts - baseline[name] + (1 if crashed_now else 0)
                why = status.reason if crashed_now else (status.last_exit or status.reason)
                if crashes > crashes_seen.get(name, 0):
                    crashes_seen[name] = crashes
                    self._event(EventKind.REPLICA_CRASHED, f"Replica {name} crashed: {why}",
                                level=EventLevel.ERROR, variation=status.variation, replica=name,
                                exit_code=status.exit_code, memory_killed=status.memory_killed)
                if crashes > settings.BERTH_ROLLOUT_MAX_RESTARTS:
                    raise RolloutFailed(f"Replica {name} of variation {status.variation} keeps crashing "
                                        f"({crashes} times): {why}")
                if status.ready and name not in ready:
                    ready.add(name)
                    self._event(EventKind.REPLICA_READY, f"Replica {name} is ready.", variation=status.variation,
                                replica=name)
            if not missing and len(ready) == len(wanted) and all(s.ready for s in statuses.values()):
                return
            if time.monotonic() > deadline:
                waiting = [f"{n}: {s.reason or s.state}" for n, s in statuses.items() if not s.ready]
                raise RolloutFailed(f"Not every replica was ready within the deploy timeout of {timeout_s} s. "
                                    + "; ".join(waiting))
            time.sleep(settings.BERTH_ROLLOUT_POLL_S)

    def _undeploy(self) -> None:
        self.backend.delete(self.deployment)
        with transaction.atomic():
            self.rollout.finish(RolloutStatus.SUCCEEDED)
            Variation.objects.filter(deployment=self.deployment).delete()
            deployment = self.deployment
            deployment.current_rollout = None
            deployment.gateway_port, deployment.gateway_url, deployment.observed = None, "", {}
            deployment.status, deployment.status_reason = DeploymentStatus.STOPPED, "Undeployed."
            deployment.save()
            self._event(EventKind.UNDEPLOYED, "Every replica and the gateway were stopped; their ports are free.")
            publish_deployment(deployment)

    def _succeed(self, spec: DeploySpec, gateway: GatewayStatus) -> None:
        with transaction.atomic():
            deployment = Deployment.objects.select_for_update().get(pk=self.deployment.pk)
            old = deployment.current_rollout
            if self.rollout.action == RolloutAction.ROLLBACK and old and old.status == RolloutStatus.SUCCEEDED:
                old.finish(RolloutStatus.ROLLED_BACK, f"Replaced by rollback to revision "
                                                      f"{self.rollout.source_revision}.")
            self.rollout.finish(RolloutStatus.SUCCEEDED)
            _write_variations(deployment, spec)
            deployment.current_rollout = self.rollout
            deployment.gateway_port, deployment.gateway_url = gateway.port, gateway.url
            deployment.status, deployment.status_reason = DeploymentStatus.RUNNING, ""
            deployment.observed = {}
            deployment.save()
            self.deployment = deployment
            kind = EventKind.SCALED if self.rollout.action == RolloutAction.SCALE else EventKind.SUCCEEDED
            replicas = ", ".join(f"{v.name} × {v.replicas}" for v in spec.variations)
            self._event(kind, f"Revision {self.rollout.revision} serves at {deployment.predict_url} ({replicas}).")
            publish_deployment(deployment)

    def _fail(self, reason: str) -> None:
        """Remove what this rollout started; the previous revision (if any) keeps serving."""
        cleanup = ""
        try:
            if self.previous is not None:
                if self.switched:
                    self.backend.route(self.deployment, self.previous)
                self.backend.prune(self.deployment, self.previous)
            elif self.rollout.action != RolloutAction.UNDEPLOY:
                self.backend.delete(self.deployment)
        except Exception as exc:  # noqa: BLE001 - the rollout must still finish
            log.exception("cleanup after failed rollout %s", self.rollout_id)
            cleanup = f" Cleaning up also failed: {exc}"
        with transaction.atomic():
            self._finish_failed(reason + cleanup)

    def _finish_failed(self, reason: str) -> None:
        self.rollout.finish(RolloutStatus.FAILED, reason)
        deployment = self.deployment
        if self.rollout.action == RolloutAction.UNDEPLOY:
            deployment.set_status(DeploymentStatus.DEGRADED, f"Undeploy failed: {reason}")
        elif deployment.current_rollout_id is not None:
            serving = deployment.current_rollout.revision if deployment.current_rollout else "?"
            deployment.set_status(DeploymentStatus.RUNNING,
                                  f"Revision {self.rollout.revision} failed; revision {serving} keeps serving.")
        else:
            deployment.set_status(DeploymentStatus.FAILED, reason)
        self._event(EventKind.FAILED, f"Revision {self.rollout.revision} failed: {reason}", level=EventLevel.ERROR)
        publish_deployment(deployment)

    # --- helpers -------------------------------------------------------------------------

    def _event(self, kind: EventKind, message: str, level: EventLevel = EventLevel.INFO, **extra: object) -> None:
        record_event(self.deployment, kind, message, rollout=self.rollout, level=level, **extra)  # type: ignore[arg-type]


def _serving_spec(deployment: Deployment) -> DeploySpec | None:
    if deployment.current_rollout is None or deployment.status == DeploymentStatus.STOPPED:
        return None
    return DeploySpec.from_json(deployment.current_rollout.spec)


def _write_variations(deployment: Deployment, spec: DeploySpec) -> None:
    """Make the Variation rows mirror the revision that now serves."""
    Variation.objects.filter(deployment=deployment).exclude(name__in=[v.name for v in spec.variations]).delete()
    for v in spec.variations:
        Variation.objects.update_or_create(deployment=deployment, name=v.name, defaults={
            "build": Build.objects.get(build_id=v.build_id),
            "instance_type": InstanceType.objects.get(name=v.instance_type),
            "replicas": v.replicas, "server_workers": v.server_workers, "request_timeout_ms": v.request_timeout_ms,
            "deploy_timeout_min": v.deploy_timeout_min, "max_batch_size": v.max_batch_size,
            "env": [{"name": e.name, "value": e.value, "secret": e.secret} for e in v.env],
            "daemon_mode": v.daemon_mode, "iam_role_arn": v.iam_role_arn,
            "service_account_key_secret_name": v.service_account_key_secret_name,
            "traffic_percent": v.traffic_percent, "shadow": v.shadow,
        })
