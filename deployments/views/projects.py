"""Projects: list, create, detail (models and members), invite, remove member."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_project_for_user
from deployments.forms import InviteForm, ProjectForm
from deployments.models import Membership, Project, Role
from deployments.projects.memberships import create_project, remove_member, set_role


@login_required
def project_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    projects = Project.objects.for_user(request.user).prefetch_related("models")
    memberships = {m.project_id: m.role for m in Membership.objects.filter(user=request.user)}
    rows = [(p, memberships.get(p.pk)) for p in projects]
    return render(request, "deployments/project_list.html", {"rows": rows})


@login_required
def project_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = create_project(request.user, **form.cleaned_data)
        messages.success(request, f"Project {project.name} created. You are its admin.")
        return redirect("project-detail", slug=project.slug)
    return render(request, "deployments/project_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def project_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, membership = get_project_for_user(request.user, slug)
    context = {
        "project": project,
        "membership": membership,
        "models": project.models.all(),
        "members": project.memberships.select_related("user"),
        "invite_form": InviteForm() if membership.allows(Role.ADMIN) else None,
    }
    return render(request, "deployments/project_detail.html", context)


@login_required
@require_POST
def project_invite(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            membership = set_role(project, form.cleaned_data["user"], form.cleaned_data["role"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{membership.user} is now {membership.role} in {project.name}.")
            return redirect("project-detail", slug=project.slug)
    context = {
        "project": project, "membership": project.memberships.get(user=request.user),
        "models": project.models.all(), "members": project.memberships.select_related("user"),
        "invite_form": form,
    }
    return render(request, "deployments/project_detail.html", context, status=400)


@login_required
@require_POST
def project_remove_member(request: AuthenticatedHttpRequest, slug: str, member_pk: int) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
    member = get_object_or_404(Membership, project=project, pk=member_pk)
    try:
        remove_member(member)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{member.user} no longer has access to {project.name}.")
    return redirect("project-detail", slug=project.slug)
