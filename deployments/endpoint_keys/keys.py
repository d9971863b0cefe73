"""Creating, listing and revoking a project's endpoint keys: the rules views, API and CLI share.

Deployers and admins create and revoke keys (they deploy, so they hold what calls deployments);
viewers see the keys' names and status only; non-members get 404 (deployments/access.py).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from deployments.models import EndpointKey, Membership, Project, Role
from deployments.models.endpoint_key import KEY_LIFETIMES

MAX_KEYS = 100  # per project, not revoked: each gateway compares a request's key with every one


class KeyRequestError(ValueError):
    """A request to create a key that breaks a rule; the message says what to change."""


def lifetime_of(choice: str) -> timedelta | None:
    if choice not in KEY_LIFETIMES:
        raise KeyRequestError(f"Unknown expiry {choice!r}; use one of: {', '.join(KEY_LIFETIMES)}.")
    return KEY_LIFETIMES[choice][1]


def create_key(project: Project, user: object, name: str, expires: str = "never") -> tuple[EndpointKey, str]:
    """A new key and its value, which is never shown again."""
    name = name.strip()
    if not name:
        raise KeyRequestError("Give the key a name that says who uses it (e.g. 'billing service').")
    lifetime = lifetime_of(expires)
    if EndpointKey.objects.filter(project=project).accepted().count() >= MAX_KEYS:
        raise KeyRequestError(f"Project {project.slug} has {MAX_KEYS} keys; revoke unused ones first.")
    created = EndpointKey.issue(project, name, user, lifetime)
    _tell_gateways(project.pk)
    return created


def revoke_key(key: EndpointKey) -> None:
    """Revoke now; once committed, the project's gateways are told (within one config refresh)."""
    if key.revoked_at is not None:
        return
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    _tell_gateways(key.project_id)


def _tell_gateways(project_id: int) -> None:
    """Once committed, rewrite the keys of the project's gateways that require keys (a Celery task)."""
    from deployments.endpoint_keys.tasks import refresh_keys

    transaction.on_commit(lambda: refresh_keys.delay(project_id))


def can_manage(membership: Membership) -> bool:
    return membership.allows(Role.DEPLOYER)


def project_keys(project: Project) -> list[EndpointKey]:
    """Every key of the project, the newest first, revoked ones included (they say when)."""
    return list(EndpointKey.objects.filter(project=project).select_related("created_by"))
