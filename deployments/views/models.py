"""Models: create in a project, detail with its builds."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_model_for_user, get_project_for_user
from deployments.builds.forms import BuildUploadForm
from deployments.forms import ModelForm
from deployments.models import BuildStatus, Role
from deployments.models.model import create_model


@login_required
def model_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_user(request.user, slug, Role.DEPLOYER)
    form = ModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = create_model(project, **form.cleaned_data)
        except ValidationError as taken:  # by a create that won the race since the form's check
            form.add_error("model_id", taken)
        else:
            messages.success(request, f"Model {model.model_id} created. Upload a build to deploy it.")
            return redirect("model-detail", model_id=model.model_id)
    return render(request, "deployments/model_form.html", {"form": form, "project": project},
                  status=400 if form.errors else 200)


@login_required
def model_detail(request: AuthenticatedHttpRequest, model_id: str) -> HttpResponse:
    model, membership = get_model_for_user(request.user, model_id)
    builds = list(model.builds.select_related("created_by"))
    context = {
        "model": model,
        "project": model.project,
        "membership": membership,
        "builds": builds,
        "has_ready_build": any(build.status == BuildStatus.READY for build in builds),
        "deployments": model.deployments.all(),  # their stored status, as the project page shows it
        "upload_form": BuildUploadForm() if membership.allows(Role.DEPLOYER) else None,
        "can_deploy": membership.allows(Role.DEPLOYER),
    }
    return render(request, "deployments/model_detail.html", context)
