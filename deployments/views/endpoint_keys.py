"""A project's Endpoint keys page: create (value shown once), list, revoke after a confirmation.

Creating is post/redirect/get, as the API tokens page does (console/views/tokens.py): the POST
issues the key and keeps its value in the session for exactly one GET, which shows it and
forgets it. Members see the page (viewers: names and status only); deployers and admins create
and revoke (deployments/endpoint_keys/keys.py).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from console.typing import AuthenticatedHttpRequest
from deployments.access import get_project_for_user
from deployments.endpoint_keys.keys import KeyRequestError, can_manage, create_key, project_keys, revoke_key
from deployments.models import EndpointKey, Role
from deployments.models.endpoint_key import KEY_LIFETIMES

NEW_KEY = "new_endpoint_key"  # a session key: the value of the key just created, until the next GET


class EndpointKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who calls with it, e.g. billing service.")
    expires = forms.ChoiceField(choices=[(key, label) for key, (label, _) in KEY_LIFETIMES.items()],
                                initial="never", label="Expires", help_text="After this, gateways refuse the key.")


@login_required
@never_cache  # the page that shows a key is never kept by the browser or a proxy
@require_http_methods(["GET", "POST"])
def project_endpoint_keys(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project, membership = get_project_for_user(request.user, slug)
    manage = can_manage(membership)
    form = EndpointKeyForm(request.POST or None) if manage else None
    if request.method == "POST":
        get_project_for_user(request.user, slug, Role.DEPLOYER)  # 403 for a viewer
        if form is not None and form.is_valid():
            try:
                key, raw = create_key(project, request.user, form.cleaned_data["name"], form.cleaned_data["expires"])
            except KeyRequestError as exc:
                form.add_error("name", str(exc))
            else:
                request.session[NEW_KEY] = {"pk": key.pk, "secret": raw, "project": project.pk}
                messages.success(request, f"Endpoint key {key.name} created. Copy it now: it will not be shown again.")
                return redirect("project-endpoint-keys", project.slug)
    new = request.session.pop(NEW_KEY, None)
    if new and new.get("project") != project.pk:
        new = None
    return render(request, "deployments/endpoint_keys/keys.html",
                  {"project": project, "membership": membership, "can_manage": manage, "form": form,
                   "keys": project_keys(project), "new": new})


@login_required
@require_http_methods(["GET", "POST"])
def project_endpoint_key_revoke(request: AuthenticatedHttpRequest, slug: str, key_pk: int) -> HttpResponse:
    """GET asks to confirm, naming the key; POST revokes it."""
    project, _ = get_project_for_user(request.user, slug, Role.DEPLOYER)
    key = EndpointKey.objects.filter(project=project, pk=key_pk).first()
    if key is None:
        raise Http404("No such endpoint key in this project.")
    if request.method == "GET":
        return render(request, "deployments/endpoint_keys/revoke.html", {"project": project, "key": key})
    revoke_key(key)
    messages.success(request, f"Endpoint key {key.name} revoked; gateways refuse it within seconds.")
    return redirect("project-endpoint-keys", project.slug)
