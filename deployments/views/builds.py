"""Builds: upload, detail (with live status and where it is deployed), label and tags, delete, the bundle-format page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_build_for_user, get_model_for_user
from deployments.builds.docs import doc_html, doc_path, screenshot_path
from deployments.builds.forms import BuildEditForm, BuildUploadForm
from deployments.builds.upload import DuplicateBuild, store_build
from deployments.builds.usage import build_uses, delete_build
from deployments.models import Build, Membership, Role

UPLOAD_AGAIN = ("To upload it again as a new build, choose the file again, tick “Upload anyway” "
                "and give it a label of its own.")


@login_required
@require_POST
def build_upload(request: AuthenticatedHttpRequest, model_id: str) -> HttpResponse:
    model, membership = get_model_for_user(request.user, model_id, Role.DEPLOYER)
    form = BuildUploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            build = store_build(model, data["file"], data["framework"], data["example_input"], request.user,
                                form.options)
        except DuplicateBuild as same:
            form.offer_duplicate(ValidationError(f"{same.message} {UPLOAD_AGAIN}"))
        except ValidationError as refused:  # the project's storage quota, or a duplicate without a label
            form.add_error(None if hasattr(refused, "error_dict") else "file", refused)
        else:
            messages.success(request, f"Build {build.name} uploaded.")  # its row shows validation live
            return redirect("model-detail", model_id=model.model_id)
    context = {"model": model, "project": model.project, "membership": membership,
               "builds": model.builds.select_related("created_by"), "upload_form": form, "can_deploy": True}
    return render(request, "deployments/model_detail.html", context, status=400)


@login_required
def build_detail(request: AuthenticatedHttpRequest, model_id: str, build_id: str) -> HttpResponse:
    build, membership = get_build_for_user(request.user, build_id)
    if build.model.model_id != model_id:
        return redirect("build-detail", model_id=build.model.model_id, build_id=build.build_id)
    return _detail_page(request, build, membership)


def _detail_page(request: AuthenticatedHttpRequest, build: Build, membership: Membership,
                 edit_form: BuildEditForm | None = None, status: int = 200) -> HttpResponse:
    can_deploy = membership.allows(Role.DEPLOYER)
    if can_deploy and edit_form is None:
        edit_form = BuildEditForm(initial={"label": build.label, "tags": ", ".join(build.tags)})
    context = {"build": build, "model": build.model, "project": build.model.project, "membership": membership,
               "can_deploy": can_deploy, "uses": build_uses(build), "edit_form": edit_form}
    return render(request, "deployments/build_detail.html", context, status=status)


@login_required
@require_POST
def build_edit(request: AuthenticatedHttpRequest, model_id: str, build_id: str) -> HttpResponse:
    """Change a build's label and tags (deployers): all that changes about a build after upload."""
    build, membership = get_build_for_user(request.user, build_id, Role.DEPLOYER)
    form = BuildEditForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, build, membership, form, status=400)
    build.relabel(form.cleaned_data["label"], form.cleaned_data["tags"])
    messages.success(request, f"Build {build.name} saved.")
    return redirect("build-detail", model_id=build.model.model_id, build_id=build.build_id)


@login_required
@require_POST
def build_delete(request: AuthenticatedHttpRequest, model_id: str, build_id: str) -> HttpResponse:
    """Delete a build no deployment uses (deployers), with its files; else say which deployment uses it."""
    build, _ = get_build_for_user(request.user, build_id, Role.DEPLOYER)
    try:
        if request.POST.get("confirm", "").strip() != build.short_id:
            raise ValidationError(f"Type the build's short ID {build.short_id} to confirm deleting it.")
        delete_build(build)
    except ValidationError as refused:  # not confirmed, or BuildInUse
        messages.error(request, refused.message)
        return redirect("build-detail", model_id=build.model.model_id, build_id=build.build_id)
    messages.success(request, f"Build {build.name} deleted, with its files.")
    return redirect("model-detail", model_id=build.model.model_id)


@login_required
def doc_page(request: AuthenticatedHttpRequest, name: str) -> HttpResponse:
    """A page of docs/ (e.g. docs/builds.md, the bundle format) inside the console."""
    path = doc_path(name)
    if path is None:
        raise Http404("No such page in the docs.")
    return render(request, "deployments/doc_page.html", {"doc": doc_html(path), "name": name})


@login_required
def doc_screenshot(request: AuthenticatedHttpRequest, name: str) -> FileResponse:
    path = screenshot_path(name)
    if path is None:
        raise Http404("No such screenshot in the docs.")
    return FileResponse(path.open("rb"), content_type="image/png")
