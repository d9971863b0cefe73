"""The deployment page (Overview, Configuration, Rollouts & events) and its one-click actions.

Actions answer a redirect back to the page (htmx: a client redirect) with a message saying
what happens next, or why it cannot (e.g. another rollout is still running).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from deployments.access import get_deployment_for_user, get_model_for_user
from deployments.deploy_spec import DeploySpec
from deployments.filtersets import DeploymentFilterSet
from deployments.models import Build, Deployment, Membership, Role, RolloutAction, RolloutStatus
from deployments.replica_report import report
from deployments.rollouts import request_rollback, request_scale, request_undeploy

TEMPLATE = "deployments/deployment/detail.html"
EVENTS_SHOWN = 200


def page_context(deployment: Deployment, membership: Membership | None, can_write: bool) -> dict[str, Any]:
    """What every tab (and the live socket's fragments) needs: the deployment and its honest status."""
    return {"deployment": deployment, "model": deployment.model, "project": deployment.model.project,
            "membership": membership, "can_write": can_write, "report": report(deployment),
            "active": deployment.active_rollout, "example_json": example_json(deployment)}


def example_json(deployment: Deployment) -> str:
    """A request body for the snippets: the serving build's example input, else a placeholder."""
    spec = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.current_rollout else None
    build = Build.objects.filter(build_id=spec.variations[0].build_id).first() if spec and spec.variations else None
    example = (build.example_input if build else None) or [{"feature": 1.0}]
    return json.dumps(example[:1] if isinstance(example, list) else example)


def rollouts_context(deployment: Deployment) -> dict[str, Any]:
    rollouts = list(deployment.rollouts.select_related("triggered_by").order_by("-revision"))
    serving = deployment.current_rollout_id if deployment.is_serving else None
    return {"rollouts": rollouts, "rollback_revisions": {
        r.revision for r in rollouts if r.status in (RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK)
        and r.action != RolloutAction.UNDEPLOY and r.pk != serving}}


def _page(request: HttpRequest, pk: int, tab: str, extra: dict[str, Any] | None = None) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    context = page_context(deployment, membership, membership.allows(Role.DEPLOYER))
    context["tab"] = tab
    context.update(extra(deployment) if callable(extra) else (extra or {}))
    return render(request, TEMPLATE, context)


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, pk, "overview")


@login_required
def deployment_configuration(request: HttpRequest, pk: int) -> HttpResponse:
    def extra(deployment: Deployment) -> dict[str, Any]:
        spec = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.current_rollout else None
        return {"variations": deployment.variations.select_related("build", "instance_type"), "spec": spec}

    return _page(request, pk, "configuration", extra)  # type: ignore[arg-type]


@login_required
def deployment_events(request: HttpRequest, pk: int) -> HttpResponse:
    def extra(deployment: Deployment) -> dict[str, Any]:
        events = deployment.events.select_related("rollout").order_by("-created_at", "-id")[:EVENTS_SHOWN]
        return {"events": events, **rollouts_context(deployment)}

    return _page(request, pk, "events", extra)  # type: ignore[arg-type]


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
def deployment_scale(request: HttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    variation = request.POST.get("variation", "")
    raw = request.POST.get("replicas", "")
    replicas: Any = int(raw) if raw.strip().isdigit() else raw
    return _act(request, deployment, lambda: request_scale(deployment, variation, replicas, request.user),
                f"Scaling {variation} to {raw} replica(s)", "overview")


@login_required
@require_POST
def deployment_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    raw = request.POST.get("revision", "")
    if not raw.isdigit():
        messages.error(request, "Choose the revision to roll back to.")
        return _back(request, deployment, "events")
    return _act(request, deployment, lambda: request_rollback(deployment, int(raw), request.user),
                f"Rolling back to revision {raw}", "events")


@login_required
@require_POST
def deployment_undeploy(request: HttpRequest, pk: int) -> HttpResponse:
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    if request.POST.get("confirm", "").strip() != deployment.model.model_id:
        messages.error(request, f"Type the model id {deployment.model.model_id} to confirm the undeploy.")
        return _back(request, deployment, "overview")
    return _act(request, deployment, lambda: request_undeploy(deployment, request.user),
                "Undeploying: replicas and the gateway are being stopped", "overview")


def _act(request: HttpRequest, deployment: Deployment, action: Any, doing: str, tab: str) -> HttpResponse:
    try:
        rollout = action()
    except ValidationError as exc:  # RolloutConflict included: another rollout is still running
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{doing} (revision {rollout.revision}).")
    return _back(request, deployment, tab)


def _back(request: HttpRequest, deployment: Deployment, tab: str) -> HttpResponse:
    name = {"overview": "deployment-detail", "events": "deployment-events"}.get(tab, "deployment-detail")
    url = reverse(name, args=[deployment.pk])
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRedirect(url)
    return redirect(url)
