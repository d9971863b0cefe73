"""Celery tasks: each one is start → run → finish around a database row."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.locks import held_lock, is_locked, lock_ttl_s
from deployments.builds.live import publish_build
from deployments.builds.validation import validate_stored_build
from deployments.models import Build, BuildStatus

log = logging.getLogger(__name__)


def _build_lock_name(build_id: str) -> str:
    return f"build:{build_id}"


@shared_task(name="deployments.tasks.validate_build", acks_late=True)
def validate_build(build_id: str) -> str:
    # A redelivered message may find the lock of a dead attempt: it expires within the TTL, so wait that long.
    with held_lock(_build_lock_name(build_id), wait_s=lock_ttl_s() + 10) as acquired:
        return _validate(build_id) if acquired else "already running elsewhere"


def _validate(build_id: str) -> str:
    with transaction.atomic():
        build = Build.objects.select_for_update().filter(build_id=build_id).first()
        if build is None or build.is_finished:
            return "nothing to do"
        if build.attempts >= settings.BERTH_BUILD_MAX_ATTEMPTS:
            build.record_result(False, build.log, _interrupted_message(build.attempts))
            publish_build(build)
            return "gave up"
        build.start_attempt()
    publish_build(build)
    result = validate_stored_build(build.source_path, build.bundle_dir, build.framework, build.example_input)
    build.record_result(result.ok, result.log, result.error, result.report)
    publish_build(build)
    return build.status


def _interrupted_message(attempts: int) -> str:
    return (f"Validation was interrupted {attempts} times (the worker stopped while it ran); "
            "upload the build again, and check the model's memory use if it keeps happening.")


@shared_task(name="deployments.tasks.prune_failed_builds")
def prune_failed_builds() -> int:
    """Failed builds past BERTH_FAILED_BUILD_RETENTION_DAYS go, with their files."""
    from deployments.builds.retention import prune_failed_builds as prune

    return prune()


@shared_task(name="deployments.tasks.reconcile")
def reconcile() -> None:
    """Find builds and rollouts whose worker died and resume them."""
    _reconcile_builds()
    _reconcile_rollouts()


def _reconcile_builds() -> None:
    for build in Build.objects.filter(status=BuildStatus.BUILDING):
        if is_locked(_build_lock_name(str(build.build_id))):
            continue
        if build.started_at is not None or _waited_too_long(build):
            log.info("re-queueing build %s (attempt %s was interrupted)", build.build_id, build.attempts)
            validate_build.delay(str(build.build_id))


def _waited_too_long(build: Build) -> bool:
    return build.created_at < timezone.now() - timedelta(minutes=5)


# --- rollouts ---------------------------------------------------------------------------

@shared_task(name="deployments.tasks.run_rollout", acks_late=True)
def run_rollout(rollout_id: int) -> str:
    """Converge the runtime to a rollout's frozen spec (see deployments/rollouts/engine.py)."""
    from deployments.rollouts.engine import execute

    return execute(rollout_id)


def _reconcile_rollouts() -> None:
    """Resume rollouts nobody works on (queued message lost, worker killed)."""
    from django.utils import timezone

    from deployments.models import Rollout, RolloutStatus
    from deployments.rollouts.engine import lock_name

    grace = timezone.now() - timedelta(seconds=30)
    for rollout in Rollout.objects.filter(status__in=RolloutStatus.active()):
        if is_locked(lock_name(rollout.deployment_id)):
            continue
        if rollout.status == RolloutStatus.IN_PROGRESS or rollout.created_at < grace:
            log.info("re-queueing rollout %s (revision %s)", rollout.pk, rollout.revision)
            run_rollout.delay(rollout.pk)


@shared_task(name="deployments.tasks.refresh_health", expires=60)
def refresh_health() -> None:
    """Observe every deployment that should be serving and has no rollout running (deployments/state/observer.py)."""
    from deployments.backends.base import get_backend
    from deployments.models import Deployment
    from deployments.rollouts.engine import lock_name
    from deployments.state.observer import observe

    backend = get_backend()
    for deployment in Deployment.objects.serving().select_related("current_rollout", "model"):
        if not is_locked(lock_name(deployment.pk)):  # a rollout observes its own deployment
            observe(deployment, backend)
