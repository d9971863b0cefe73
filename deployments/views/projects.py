"""Projects: list (with invitations waiting for you), create, detail (models, members, invitations)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Value
from django.db.models.functions import JSONObject
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_project_for_user
from deployments.builds.upload import storage_summary
from deployments.forms import InviteForm, ProjectForm, RoleForm
from deployments.models import DeploymentStatus, Invitation, Membership, Project, Role
from deployments.projects import memberships


@login_required
def project_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    projects = Project.objects.for_user(request.user).prefetch_related("models").annotate(**STATUS_COUNTS)
    roles = {m.project_id: m.role for m in Membership.objects.filter(user=request.user)}
    context = {"rows": [(p, roles.get(p.pk), deployment_statuses(p)) for p in projects],
               "invitations": memberships.pending_invitations(request.user)}
    return render(request, "deployments/project_list.html", context)


# How many of a project's deployments are in each stored status, counted in the projects' own query.
STATUS_COUNTS = {f"deployments_{value}": Count("models__deployments", distinct=True,
                                                filter=Q(models__deployments__status=value))
                 for value in DeploymentStatus.values}


def deployment_statuses(project: Project) -> list[tuple[str, str, int]]:
    """(status, label, how many) of the project's deployments, from STATUS_COUNTS; statuses none is in left out."""
    counts = [(value, label, getattr(project, f"deployments_{value}", 0)) for value, label in DeploymentStatus.choices]
    return [row for row in counts if row[2]]


def deployment_badges() -> ArrayAgg:
    """Each of a model's deployments as {pk, environment, status}, gathered in the models' own query."""
    return ArrayAgg(JSONObject(pk="deployments__pk", environment="deployments__environment",
                               status="deployments__status"),
                    filter=Q(deployments__isnull=False), order_by="deployments__environment", default=Value([]))


@login_required
def project_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = memberships.create_project(request.user, **form.cleaned_data)
        messages.success(request, f"Project {project.name} created. You are its admin.")
        return redirect("project-detail", slug=project.slug)
    return render(request, "deployments/project_form.html", {"form": form}, status=400 if form.errors else 200)


def _detail(request: AuthenticatedHttpRequest, project: Project, membership: Membership,
            invite_form: InviteForm | None = None, status: int = 200) -> HttpResponse:
    is_admin = membership.allows(Role.ADMIN)
    context = {
        "project": project,
        "membership": membership,
        "models": project.models.annotate(deployment_badges=deployment_badges()),
        "members": project.memberships.select_related("user"),
        "roles": Role.choices,
        "invite_form": (invite_form or InviteForm()) if is_admin else None,
        "invitations": Invitation.objects.filter(project=project).select_related("invited_by") if is_admin else None,
        "storage": storage_summary(project),
    }
    return render(request, "deployments/project_detail.html", context, status=status)


@login_required
def project_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, membership = get_project_for_user(request.user, slug)
    return _detail(request, project, membership)


@login_required
@require_POST
def project_invite(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, membership = get_project_for_user(request.user, slug, Role.ADMIN)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = memberships.invite(project, request.user, form.cleaned_data["invitee"],
                                            form.cleaned_data["role"])
        except ValidationError as exc:
            form.add_error("invitee", exc)
        else:
            messages.success(request, memberships.invitation_sent(invitation))
            return redirect("project-detail", slug=project.slug)
    return _detail(request, project, membership, invite_form=form, status=400)


@login_required
@require_POST
def project_revoke_invitation(request: AuthenticatedHttpRequest, slug: str, invitation_pk: int) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
    invitation = memberships.revoke_invitation(project, invitation_pk)
    messages.success(request, f"Invitation to {invitation.invitee} revoked.")
    return redirect("project-detail", slug=project.slug)


@login_required
@require_POST
def project_member_role(request: AuthenticatedHttpRequest, slug: str, member_pk: int) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
    member = memberships.member_of(project, member_pk)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose a role: viewer, deployer or admin.")
        memberships.change_role(member, form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{member.user} is now {member.role} in {project.name}.")
    return redirect("project-detail", slug=project.slug)


@login_required
@require_POST
def project_remove_member(request: AuthenticatedHttpRequest, slug: str, member_pk: int) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
    member = memberships.member_of(project, member_pk)
    try:
        memberships.remove_member(member)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{member.user} no longer has access to {project.name}.")
    return redirect("project-detail", slug=project.slug)


@login_required
@require_POST
def invitation_accept(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    membership = memberships.accept_invitation(request.user, pk)
    messages.success(request, f"You joined {membership.project.name} as {membership.role}.")
    return redirect("project-detail", slug=membership.project.slug)


@login_required
@require_POST
def invitation_decline(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    invitation = memberships.decline_invitation(request.user, pk)
    messages.success(request, f"Invitation to {invitation.project.name} declined.")
    return redirect("project-list")
