"""Asking for a change to a deployment: every request becomes one Rollout row, then a task.

Each function checks the request, creates the Rollout in one transaction (refusing while
another rollout of the deployment is pending or in progress) and enqueues `run_rollout`
once the transaction commits. Views, the API and the CLI call these and nothing else.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from deployments.models import (
    Build,
    BuildStatus,
    Deployment,
    DeploymentStatus,
    EventKind,
    Model,
    Rollout,
    RolloutAction,
    RolloutStatus,
)
from deployments.rollouts.events import record_event
from deployments.rollouts.spec import DeploySpec, check_number, validate_spec
from deployments.rollouts.spec_edit import last_served_spec, split_traffic
from deployments.state.status import settle


class RolloutConflict(ValidationError):
    """Another rollout of this deployment is still pending or in progress (HTTP 409)."""


def deploy(model: Model, data: dict[str, Any], user: object, environment: str = "production") -> Rollout:
    """Validate a requested spec and roll it out, creating the deployment on first use."""
    deployment = Deployment.objects.filter(model=model, environment=environment).first()
    previous = last_served_spec(deployment)  # stored secrets carry over a redeploy after an undeploy
    spec = validate_spec(model, data, previous)
    with transaction.atomic():
        deployment, _ = Deployment.objects.get_or_create(
            model=model, environment=environment, defaults={"created_by": _user(user)})
        return request_rollout(deployment, spec, user)


def current_spec(deployment: Deployment) -> DeploySpec | None:
    """The spec serving now, or None when nothing serves."""
    if not deployment.is_serving or deployment.current_rollout is None:
        return None
    return DeploySpec.from_json(deployment.current_rollout.spec)


def request_rollout(deployment: Deployment, spec: DeploySpec, user: object,
                    action: str = RolloutAction.DEPLOY, source_revision: int | None = None) -> Rollout:
    """Create the next revision of `deployment` for `spec` and enqueue its rollout."""
    try:
        with transaction.atomic():
            locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
            _refuse_if_busy(locked)
            _lock_builds(spec, action)
            revision = (locked.rollouts.aggregate(top=Max("revision"))["top"] or 0) + 1
            rollout = Rollout.objects.create(
                deployment=locked, revision=revision, action=action, spec=spec.to_json(), strategy=spec.strategy,
                source_revision=source_revision, triggered_by=_user(user))
            record_event(locked, EventKind.CREATED, _describe(rollout, user), rollout=rollout)
            settle(locked)
            transaction.on_commit(lambda: _enqueue(rollout.pk))
    except IntegrityError:  # a concurrent request won the one-active-rollout constraint
        raise RolloutConflict("Another rollout of this deployment was just requested; wait for it to finish.",
                              code="conflict") from None
    deployment.refresh_from_db()
    return rollout


def whole_number(value: object) -> object:
    """"3" as 3 (form posts and shells send text); anything else is left for the caller to refuse."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def request_rollback(deployment: Deployment, revision: object, user: object) -> Rollout:
    """Roll out the spec of an earlier revision that once succeeded (`revision` as sent: 3 or "3")."""
    revision = whole_number(revision)
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise ValidationError({"revision": "Give the revision number to roll back to, e.g. 3."})
    deployment.refresh_from_db()
    target = deployment.rollouts.filter(revision=revision).first()
    if target is None:
        raise ValidationError({"revision": f"Revision {revision} does not exist."})
    if target.status not in (RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK) or \
            target.action == RolloutAction.UNDEPLOY:
        raise ValidationError({"revision": f"Revision {revision} never served traffic ({target.status}); "
                                           "roll back to a revision that succeeded."})
    if deployment.current_rollout_id == target.pk and deployment.is_serving:
        raise ValidationError({"revision": f"Revision {revision} is already serving."})
    spec = DeploySpec.from_json(target.spec)
    return request_rollout(deployment, spec, user, RolloutAction.ROLLBACK, source_revision=revision)


def request_scale(deployment: Deployment, variation: str, replicas: object, user: object) -> Rollout:
    """Change one variation's replica count (as sent: 3 or "3"); running replicas keep running."""
    replicas = whole_number(replicas)
    deployment.refresh_from_db()
    spec = current_spec(deployment)
    if spec is None:
        raise ValidationError("Nothing is serving: deploy a build before scaling.")
    current = spec.variation(variation)
    if current is None:
        names = ", ".join(v.name for v in spec.variations)
        raise ValidationError({"variation": f"No variation {variation!r}; this deployment has: {names}."})
    if replicas in (None, ""):
        raise ValidationError({"replicas": "Give the number of replicas."})
    try:
        replicas = check_number("replicas", replicas)  # the rule and words the wizard and the API use
    except ValidationError as exc:
        raise ValidationError({"replicas": exc.messages}) from None
    if current.replicas == replicas:
        raise ValidationError({"replicas": f"{variation} already runs {replicas} replica(s)."})
    return request_rollout(deployment, spec.with_replicas(variation, replicas), user, RolloutAction.SCALE)


def request_traffic(deployment: Deployment, shares: object, user: object) -> Rollout:
    """Split the traffic between the serving variations (`{"default": 80, "challenger": 20}`); no new replica
    starts, the gateway's weights change."""
    deployment.refresh_from_db()
    spec = current_spec(deployment)
    if spec is None:
        raise ValidationError("Nothing is serving: deploy a build before splitting its traffic.")
    if not isinstance(shares, dict):
        raise ValidationError({"traffic": 'Send the shares as an object, e.g. {"default": 80, "challenger": 20}.'})
    return request_rollout(deployment, split_traffic(spec, shares), user, RolloutAction.DEPLOY)


def request_undeploy(deployment: Deployment, user: object) -> Rollout:
    """Stop every replica and the gateway of the deployment and free their ports."""
    deployment.refresh_from_db()
    if deployment.status == DeploymentStatus.STOPPED:
        raise ValidationError("This deployment is already stopped.")
    return request_rollout(deployment, DeploySpec(), user, RolloutAction.UNDEPLOY)


def _refuse_if_busy(deployment: Deployment) -> None:
    active = deployment.rollouts.filter(status__in=RolloutStatus.active()).first()
    if active is not None:
        raise RolloutConflict(
            f"Revision {active.revision} ({active.get_action_display().lower()}) is still "
            f"{active.get_status_display().lower()}; wait until it finishes, then try again.", code="conflict")


def _lock_builds(spec: DeploySpec, action: str) -> None:
    """Hold the spec's builds until the revision naming them is stored: a delete racing this waits,
    then finds them in use; one that won has left them missing, and the request is refused."""
    wanted = [variation.build_id for variation in spec.variations]
    found = {str(build_id) for build_id in Build.objects.select_for_update().filter(
        build_id__in=wanted, status=BuildStatus.READY).values_list("build_id", flat=True)}
    for index, variation in enumerate(spec.variations):
        if variation.build_id not in found:
            key = "revision" if action == RolloutAction.ROLLBACK else f"variations.{index}.build_id"
            raise ValidationError({key: f"Build {variation.build_id[:8]} of variation {variation.name} "
                                        "is no longer available."})


def _describe(rollout: Rollout, user: object) -> str:
    who = getattr(user, "username", "") or "the system"
    spec = DeploySpec.from_json(rollout.spec)
    parts = ", ".join(f"{v.name}: build {v.build_id[:8]} × {v.replicas}" for v in spec.variations)
    text = f"Revision {rollout.revision} ({rollout.get_action_display().lower()}) requested by {who}"
    if rollout.source_revision:
        text += f", restoring revision {rollout.source_revision}"
    return f"{text}{': ' + parts if parts else ''}."


def _user(user: object) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _enqueue(rollout_pk: int) -> None:
    from deployments.tasks import run_rollout

    run_rollout.delay(rollout_pk)
