"""Builds: upload, detail (with live status)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_build_for_user, get_model_for_user
from deployments.builds.upload import store_build
from deployments.forms import BuildUploadForm
from deployments.models import Role


@login_required
@require_POST
def build_upload(request: AuthenticatedHttpRequest, model_id: str) -> HttpResponse:
    model, membership = get_model_for_user(request.user, model_id, Role.DEPLOYER)
    form = BuildUploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            build = store_build(model, data["file"], data["framework"], data["example_input"], request.user)
        except ValidationError as refused:  # the project's storage quota
            form.add_error("file", refused)
        else:
            messages.success(request, f"Build {build.short_id} uploaded.")  # its row shows validation live
            return redirect("model-detail", model_id=model.model_id)
    context = {"model": model, "project": model.project, "membership": membership,
               "builds": model.builds.select_related("created_by"), "upload_form": form}
    return render(request, "deployments/model_detail.html", context, status=400)


@login_required
def build_detail(request: AuthenticatedHttpRequest, model_id: str, build_id: str) -> HttpResponse:
    build, membership = get_build_for_user(request.user, build_id)
    if build.model.model_id != model_id:
        return redirect("build-detail", model_id=build.model.model_id, build_id=build.build_id)
    context = {"build": build, "model": build.model, "project": build.model.project, "membership": membership}
    return render(request, "deployments/build_detail.html", context)
