"""The deployment page (Overview, Configuration, Rollouts & events) and its one-click actions.

Actions answer a redirect back to the page (htmx: a client redirect) with a message saying the
work started; that message names its rollout (`announce`), so the page's live socket rewrites
it when the rollout ends ("Undeployed", or why it failed) and it never outlives the work.
Refusals (another rollout still running, a bad value) are flashed as errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from deployments.access import get_deployment_for_user, get_model_for_user
from deployments.filtersets import DeploymentFilterSet
from deployments.models import Deployment, Role, Rollout
from deployments.rollouts.requests import request_rollback, request_scale, request_undeploy
from deployments.rollouts.spec import DeploySpec
from deployments.state.page import TEMPLATE, EventQuery, notice, page_context


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _page(request: HttpRequest, pk: int, tab: str, extra: dict[str, Any] | None = None,
          event_query: EventQuery | None = None, partial: bool = False) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    context = page_context(deployment, membership, membership.allows(Role.DEPLOYER), tab, event_query)
    return render(request, f"{TEMPLATE}#live" if partial else TEMPLATE, context | (extra or {}))


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # The snippets name this console as the browser reached it (scheme://host:port), not a default address.
    return _page(request, pk, "overview", {"console_url": request.build_absolute_uri("/").rstrip("/")})


@login_required
def deployment_configuration(request: HttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk)
    spec = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.current_rollout else None
    return _page(request, pk, "configuration", {
        "variations": deployment.variations.select_related("build", "instance_type"), "spec": spec})


@login_required
def deployment_events(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Revisions and events; `?level=&kind=&page=` filter and page the events (htmx: only the live part,
    but the whole page when htmx restores history it no longer has cached)."""
    htmx = request.htmx
    return _page(request, pk, "events", event_query=EventQuery.parse(request.GET),
                 partial=bool(htmx) and not htmx.boosted and not htmx.history_restore_request)


@login_required
def model_deployments(request: HttpRequest, model_id: str) -> HttpResponse:
    """The model page's Deployments tab: its deployment per environment, filtered like the API list."""
    model, membership = get_model_for_user(request.user, model_id)
    deployments = DeploymentFilterSet(request.GET, Deployment.objects.filter(model=model).select_related(
        "current_rollout", "model")).qs
    return render(request, "deployments/deployment/model_deployments.html", {
        "model": model, "project": model.project, "membership": membership, "deployments": deployments,
        "can_deploy": membership.allows(Role.DEPLOYER)})


@login_required
@require_POST
def deployment_scale(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    variation, replicas = request.POST.get("variation", ""), request.POST.get("replicas", "")
    return _act(request, deployment, lambda: request_scale(deployment, variation, replicas, request.user),
                "deployment-detail")


@login_required
@require_POST
def deployment_rollback(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    revision = request.POST.get("revision", "")
    return _act(request, deployment, lambda: request_rollback(deployment, revision, request.user),
                "deployment-events")


@login_required
@require_POST
def deployment_undeploy(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    if request.POST.get("confirm", "").strip() != deployment.model.model_id:
        messages.error(request, f"Type the model id {deployment.model.model_id} to confirm the undeploy.")
        return _back(request, deployment, "deployment-detail")
    return _act(request, deployment, lambda: request_undeploy(deployment, request.user), "deployment-detail")


def announce(request: HttpRequest, rollout: Rollout) -> None:
    """Flash what a requested rollout is doing, tagged with it so the live page updates it when it ends."""
    said = notice(rollout)
    messages.add_message(request, MESSAGE_LEVELS[said.level], said.text, extra_tags=f"work rollout-{rollout.pk}")


MESSAGE_LEVELS = {"info": messages.INFO, "success": messages.SUCCESS, "error": messages.ERROR}


def _act(request: HtmxHttpRequest, deployment: Deployment, action: Callable[[], Rollout], page: str) -> HttpResponse:
    try:
        announce(request, action())
    except ValidationError as exc:  # RolloutConflict included: another rollout is still running
        messages.error(request, " ".join(exc.messages))
    return _back(request, deployment, page)


def _back(request: HtmxHttpRequest, deployment: Deployment, page: str) -> HttpResponse:
    url = reverse(page, args=[deployment.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
