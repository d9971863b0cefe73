"""Who belongs to a project: the rules the project pages and the API both apply.

A project always has at least one admin: it is created with one, and neither removing a
member nor changing a role may leave it without. Views and serializers call these
functions and show their ValidationError as it is.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from deployments.models import Membership, Project, Role

LAST_ADMIN = "A project needs at least one admin; make someone else admin first."


def find_user(who: str) -> User:
    """The active account whose username or email (any case) is `who`."""
    who = (who or "").strip()
    user = User.objects.filter(Q(username=who) | Q(email__iexact=who)).order_by("pk").first() \
        if who else None
    if user is None:
        raise ValidationError(f"No account is called {who!r}; ask a Berth administrator to create it "
                              "(Django admin, /admin/).", code="unknown_user")
    return user


def create_project(creator: User, **fields: Any) -> Project:
    """A new project with `creator` as its admin, both or neither."""
    with transaction.atomic():
        project = Project.objects.create(**fields)
        Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    return project


def set_role(project: Project, user: User, role: str) -> Membership:
    """Add `user` to the project with `role`, or change the role they have."""
    with transaction.atomic():
        _lock(project)
        membership = Membership.objects.filter(project=project, user=user).first()
        if membership is not None and membership.role == Role.ADMIN and role != Role.ADMIN:
            _refuse_if_last_admin(membership)
        membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def remove_member(membership: Membership) -> None:
    """Take a member out of the project (they lose access at once)."""
    with transaction.atomic():
        _lock(membership.project)
        _refuse_if_last_admin(membership)
        membership.delete()


def _lock(project: Project) -> None:
    """Serialise membership changes of one project, so two admins cannot remove each other at once."""
    Project.objects.select_for_update().filter(pk=project.pk).first()


def _refuse_if_last_admin(membership: Membership) -> None:
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.ADMIN).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError(LAST_ADMIN, code="last_admin")
