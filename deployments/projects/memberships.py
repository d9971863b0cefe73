"""Who belongs to a project: the rules the project pages and the API both apply.

A project always has at least one active admin: it is created with one, and neither removing
a member nor changing a role may leave it without. Nobody is made a member by someone else:
an admin invites a username or email, and the account joins only when its owner accepts.
Inviting answers the same whether or not such an account exists, so it cannot be used to find
out who has one. Views and serializers call these functions and show their errors as they are.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404

from deployments.models import Invitation, Membership, Project, Role
from deployments.models.project import role_allows

LAST_ADMIN = "A project needs at least one admin; make someone else admin first."
NO_SUCH_INVITATION = "No such invitation."
NO_SUCH_MEMBER = "No such member in this project."
NOBODY = "Name the account to invite: a username or an email address."


def invitation_sent(invitation: Invitation) -> str:
    """The answer to an invitation, built from what the admin typed alone: it says nothing about the account."""
    return (f"Invitation sent to {invitation.invitee}. If that names a Berth account, they join as "
            f"{invitation.role} once they accept it on their Projects page.")


def create_project(creator: User, **fields: Any) -> Project:
    """A new project with `creator` as its admin, both or neither."""
    with transaction.atomic():
        project = Project.objects.create(**fields)
        Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    return project


def invite(project: Project, invited_by: User, who: str, role: str) -> Invitation:
    """Invite `who` (a username or email) to join as `role`; inviting them again changes the role offered."""
    who = (who or "").strip()
    if not who:
        raise ValidationError(NOBODY, code="required")
    with transaction.atomic():
        _lock(project)
        invitation, _ = Invitation.objects.update_or_create(
            project=project, invitee=who, defaults={"user": _account(who), "role": role, "invited_by": invited_by})
    return invitation


def pending_invitations(user: object) -> QuerySet[Invitation]:
    """The invitations waiting for `user` to answer."""
    if not isinstance(user, User) or not user.is_active:
        return Invitation.objects.none()
    return Invitation.objects.filter(user=user).select_related("project", "invited_by")


def accept_invitation(user: object, pk: object) -> Membership:
    """Join the project as invited; a member already holding a higher role keeps it."""
    project = _invitation_of(user, pk).project
    with transaction.atomic():
        _lock(project)  # the project first, as invite() does: re-read now that no admin can change it
        invitation = _invitation_of(user, pk)
        membership, created = Membership.objects.get_or_create(
            project=project, user=invitation.user, defaults={"role": invitation.role})
        if not created and not role_allows(membership.role, invitation.role):
            membership.role = invitation.role
            membership.save(update_fields=["role"])
        invitation.delete()
    return membership


def decline_invitation(user: object, pk: object) -> Invitation:
    invitation = _invitation_of(user, pk)
    invitation.delete()
    return invitation


def revoke_invitation(project: Project, pk: object) -> Invitation:
    invitation = Invitation.objects.filter(project=project, pk=_number(pk)).first()
    if invitation is None:
        raise Http404(NO_SUCH_INVITATION)
    invitation.delete()
    return invitation


def member_of(project: Project, pk: object) -> Membership:
    membership = Membership.objects.select_related("user", "project").filter(project=project, pk=_number(pk)).first()
    if membership is None:
        raise Http404(NO_SUCH_MEMBER)
    return membership


def change_role(membership: Membership, role: str) -> Membership:
    """Give a member another role; the last admin cannot step down."""
    with transaction.atomic():
        _lock(membership.project)
        membership.refresh_from_db()
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _refuse_if_last_admin(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove_member(membership: Membership) -> None:
    """Take a member out of the project (they lose access at once)."""
    with transaction.atomic():
        _lock(membership.project)
        _refuse_if_last_admin(membership)
        membership.delete()


def _account(who: str) -> User | None:
    """The active account whose username or email (any case) is `who`, if there is one."""
    return User.objects.filter(Q(username=who) | Q(email__iexact=who), is_active=True).order_by("pk").first()


def _invitation_of(user: object, pk: object) -> Invitation:
    invitation = pending_invitations(user).filter(pk=_number(pk)).first()
    if invitation is None:
        raise Http404(NO_SUCH_INVITATION)
    return invitation


def _number(pk: object) -> int:
    """A path's id as a row's primary key; anything else names no row (-1)."""
    text = str(pk)
    return int(text) if text.isdigit() and len(text) < 10 else -1


def _lock(project: Project) -> None:
    """Serialise membership changes of one project, so two admins cannot remove each other at once."""
    Project.objects.select_for_update().filter(pk=project.pk).first()


def _refuse_if_last_admin(membership: Membership) -> None:
    """An admin whose account is deactivated administers nothing: only active ones count."""
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.ADMIN, user__is_active=True)
    if not others.exclude(pk=membership.pk).exists():
        raise ValidationError(LAST_ADMIN, code="last_admin")
