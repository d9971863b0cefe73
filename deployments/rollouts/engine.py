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
from deployments.backends.base import Backend, BackendError, GatewayStatus, get_backend
from deployments.backends.replica_id import desired_replicas
from deployments.models import (
    Build,
    Deployment,
    EventKind,
    EventLevel,
    InstanceType,
    Rollout,
    RolloutAction,
    RolloutStatus,
    Variation,
)
from deployments.rollouts.events import record_event
from deployments.rollouts.spec import DeploySpec
from deployments.state.observer import observe
from deployments.state.status import serving_spec, settle

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
            attempt = f" (attempt {rollout.attempts})" if rollout.attempts > 1 else ""
            record_event(self.deployment, EventKind.STARTED, f"Revision {rollout.revision} started{attempt}.",
                         rollout=rollout)
        settle(self.deployment)
        self.previous = serving_spec(self.deployment)
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
        for rid in self.backend.apply(self.deployment, spec):
            self._event(EventKind.REPLICA_STARTED, f"Replica {rid} started.", variation=rid.variation,
                        replica=rid.name)
        self._await_ready(spec)
        gateway = self.backend.route(self.deployment, spec)
        self.switched = True
        self._save_gateway(gateway)
        shares = ", ".join(f"{v.name} {v.traffic_percent}%{' (shadow)' if v.shadow else ''}" for v in spec.variations)
        self._event(EventKind.TRAFFIC_SWITCHED, f"Traffic goes to revision {self.rollout.revision}: {shares}.")
        for rid in self.backend.prune(self.deployment, spec):
            self._event(EventKind.REPLICA_STOPPED, f"Replica {rid} drained and stopped.", replica=rid.name,
                        variation=rid.variation)
        self._succeed(spec)

    def _await_ready(self, spec: DeploySpec) -> None:
        """Observe until every replica of `spec` is ready; fail on a crash loop of a new one, or the timeout."""
        wanted = {rid.name for rid in desired_replicas(self.deployment.pk, spec)}
        kept = {rid.name for rid in desired_replicas(self.deployment.pk, self.previous)} if self.previous else set()
        timeout_s = spec.deploy_timeout_s
        if settings.BERTH_DEPLOY_TIMEOUT_CAP_S:
            timeout_s = min(timeout_s, settings.BERTH_DEPLOY_TIMEOUT_CAP_S)
        deadline = time.monotonic() + timeout_s
        while True:
            observation = observe(self.deployment, self.backend, self.rollout)
            if observation.error:
                raise RolloutFailed(f"The runtime does not answer: {observation.error}")
            seen = {name: r for name in wanted if (r := observation.replica(name)) is not None}
            if len(seen) < len(wanted):
                self.backend.apply(self.deployment, spec)
            for name, replica in seen.items():
                crashes = replica.restarts + (1 if replica.crashed else 0)
                if name not in kept and crashes > settings.BERTH_ROLLOUT_MAX_RESTARTS:
                    why = replica.reason if replica.crashed else (replica.last_exit or replica.reason)
                    raise RolloutFailed(f"Replica {name} of variation {replica.variation} keeps crashing "
                                        f"({crashes} times): {why}")
            if len(seen) == len(wanted) and all(r.ready for r in seen.values()):
                return
            if time.monotonic() > deadline:
                waiting = [f"{n}: {r.reason or r.state}" for n, r in seen.items() if not r.ready]
                waiting += [f"{n}: not started" for n in sorted(wanted - set(seen))]
                raise RolloutFailed(f"Not every replica was ready within the deploy timeout of {timeout_s} s. "
                                    + "; ".join(waiting))
            self.backend.await_change(self.deployment, settings.BERTH_ROLLOUT_POLL_S)

    def _undeploy(self) -> None:
        self.backend.delete(self.deployment)
        with transaction.atomic():
            self.rollout.finish(RolloutStatus.SUCCEEDED)
            Variation.objects.filter(deployment=self.deployment).delete()
            # The gateway's port and URL stay: deploying again serves at the same endpoint.
            Deployment.objects.filter(pk=self.deployment.pk).update(current_rollout=None)
            self.deployment.refresh_from_db()
            self._event(EventKind.UNDEPLOYED, "Every replica and the gateway were stopped; their ports are free.")
            settle(self.deployment)  # in the same transaction: no reader sees a finished rollout and an old status
        observe(self.deployment, self.backend)

    def _succeed(self, spec: DeploySpec) -> None:
        with transaction.atomic():
            deployment = Deployment.objects.select_for_update().get(pk=self.deployment.pk)
            old = deployment.current_rollout
            if self.rollout.action == RolloutAction.ROLLBACK and old and old.status == RolloutStatus.SUCCEEDED:
                old.mark_rolled_back(f"Replaced by rollback to revision {self.rollout.source_revision}.")
            self.rollout.finish(RolloutStatus.SUCCEEDED)
            write_variations(deployment, spec)
            deployment.current_rollout = self.rollout
            deployment.save(update_fields=["current_rollout", "updated_at"])
            self.deployment = deployment
            kind = EventKind.SCALED if self.rollout.action == RolloutAction.SCALE else EventKind.SUCCEEDED
            replicas = ", ".join(f"{v.name} × {v.replicas}" for v in spec.variations)
            self._event(kind, f"Revision {self.rollout.revision} serves at {deployment.predict_url} ({replicas}).")
            settle(deployment)  # in the same transaction: no reader sees a finished rollout and an old status
        observe(self.deployment, self.backend)

    def _save_gateway(self, gateway: GatewayStatus) -> None:
        """Store the endpoint as soon as the gateway serves it; it is kept for the deployment's life."""
        Deployment.objects.filter(pk=self.deployment.pk).update(gateway_port=gateway.port, gateway_url=gateway.url)
        self.deployment.gateway_port, self.deployment.gateway_url = gateway.port, gateway.url
        if gateway.moved:
            self._event(EventKind.TRAFFIC_SWITCHED, gateway.moved, level=EventLevel.WARNING)

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
        except Exception as exc:
            log.exception("cleanup after failed rollout %s", self.rollout_id)
            cleanup = f" Cleaning up also failed: {exc}"
        with transaction.atomic():
            self._finish_failed(reason + cleanup)
        self.deployment.refresh_from_db()
        observe(self.deployment, self.backend)

    def _finish_failed(self, reason: str) -> None:
        self.rollout.finish(RolloutStatus.FAILED, reason)
        self._event(EventKind.FAILED, f"Revision {self.rollout.revision} failed: {reason}", level=EventLevel.ERROR)
        settle(self.deployment)

    # --- helpers -------------------------------------------------------------------------

    def _event(self, kind: EventKind, message: str, level: EventLevel = EventLevel.INFO, variation: str = "",
               replica: str = "") -> None:
        record_event(self.deployment, kind, message, rollout=self.rollout, level=level, variation=variation,
                     replica=replica)


def write_variations(deployment: Deployment, spec: DeploySpec) -> None:
    """Make the Variation rows mirror the revision that now serves."""
    Variation.objects.filter(deployment=deployment).exclude(name__in=[v.name for v in spec.variations]).delete()
    for v in spec.variations:
        Variation.objects.update_or_create(deployment=deployment, name=v.name, defaults={
            "build": Build.objects.get(build_id=v.build_id),
            "instance_type": InstanceType.objects.get(name=v.instance_type),
            "replicas": v.replicas, "server_workers": v.server_workers, "request_timeout_ms": v.request_timeout_ms,
            "deploy_timeout_min": v.deploy_timeout_min, "max_batch_size": v.max_batch_size,
            "env": [{"name": e.name, "value": e.value, "secret": e.secret} for e in v.env],
            "daemon_mode": v.daemon_mode, "outbound_network": v.outbound_network, "iam_role_arn": v.iam_role_arn,
            "service_account_key_secret_name": v.service_account_key_secret_name,
            "traffic_percent": v.traffic_percent, "shadow": v.shadow,
        })
