"""The deployment page (Overview, Configuration, Rollouts & events) and its one-click actions.

Actions answer a redirect back to the page (htmx: a client redirect) with a message saying the
work started; that message names its rollout (`announce`), so the page's live socket rewrites
it when the rollout ends ("Undeployed", or why it failed) and it never outlives the work.
Refusals (another rollout still running, a bad value) are flashed as errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from deployments.access import get_deployment_for_user, get_model_for_user
from deployments.filtersets import DeploymentFilterSet
from deployments.models import Deployment, Role, Rollout
from deployments.rollouts.requests import request_rollback, request_scale, request_undeploy
from deployments.rollouts.spec import DeploySpec
from deployments.state.page import TEMPLATE, EventQuery, notice, page_context, rollouts_context
from deployments.views.changes import changes_shown
from monitoring.api.serializers import DEFAULT_RANGE
from monitoring.series import RANGES, Series
from monitoring.sources import SourceUnavailable, series_source


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


CHARTS = [("latency", "Latency p50 / p95 / p99 (ms)"), ("throughput", "Throughput (requests/s)"),
          ("errors", "Error rate, 4xx and 5xx (% of requests)"), ("cpu", "CPU (% of one core)"),
          ("memory", "Memory (resident)"), ("replicas", "Replicas, ready and desired"),
          ("batch", "Mean batch size (rows per predict call)")]


@login_required
def deployment_charts(request: HttpRequest, pk: int) -> HttpResponse:
    """The Overview's health charts (`?range=15m|1h|6h|24h|7d&variation=`), loaded into the page by htmx:
    the stored series as the metrics API answers it, and the rollouts to mark on the time axis.
    static/console/charts.js draws them, and fetches new points from the API when the live socket says
    some were stored (monitoring.tasks.announce_points)."""
    deployment, _ = get_deployment_for_user(request.user, pk)
    range_name = request.GET.get("range", "")
    range_name = range_name if range_name in RANGES else DEFAULT_RANGE
    names = list(deployment.variations.order_by("name").values_list("name", flat=True))
    variation = request.GET.get("variation", "")
    variation = variation if variation in names else ""
    now = timezone.now()
    try:
        series: Series | None = series_source().read(deployment, range_name, now, variation)
        unavailable = ""
    except SourceUnavailable as exc:
        series, unavailable = None, str(exc)
    rollouts = [{"revision": r.revision, "action": r.get_action_display(), "status": r.status,
                 "started_at": (r.started_at or r.created_at).isoformat(),
                 "finished_at": r.finished_at.isoformat() if r.finished_at else None}
                for r in deployment.rollouts.filter(Q(finished_at__isnull=True) | Q(finished_at__gt=now - RANGES[range_name]))
                .order_by("revision")]
    return render(request, "deployments/deployment/_charts.html#charts", {
        "deployment": deployment, "ranges": list(RANGES), "range": range_name, "variations": names,
        "variation": variation, "charts": CHARTS, "series": series, "unavailable": unavailable,
        "series_json": json.dumps({"deployment": deployment.pk, **series.to_json()}) if series else "",
        "rollouts_json": json.dumps(rollouts),
        # The live socket says when the console's scrape stored points; Prometheus's new points are asked for.
        "poll_s": settings.BERTH_METRICS_SCRAPE_S if settings.PROMETHEUS_URL else 0})


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
@require_http_methods(["GET", "POST"])
def deployment_rollback(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: what rolling back to `?revision=N` would change, to confirm; POST: roll back."""
    deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    if request.method == "GET":
        return _confirm_rollback(request, deployment, request.GET.get("revision", ""))
    revision = request.POST.get("revision", "")
    return _act(request, deployment, lambda: request_rollback(deployment, revision, request.user),
                "deployment-events")


def _confirm_rollback(request: HtmxHttpRequest, deployment: Deployment, revision: str) -> HttpResponse:
    target = deployment.rollouts.filter(revision=int(revision)).first() if revision.isdigit() else None
    if target is None or target.revision not in rollouts_context(deployment)["rollback_revisions"]:
        messages.error(request, f"Revision {revision or '?'} can't be rolled back to: choose one that served "
                                "and is not serving now.")
        return _back(request, deployment, "deployment-events")
    current = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.is_serving and \
        deployment.current_rollout else None
    return render(request, "deployments/deployment/rollback_confirm.html", {
        "deployment": deployment, "model": deployment.model, "project": deployment.model.project,
        "target": target, "current": deployment.current_rollout if current is not None else None,
        "changes": changes_shown(deployment.model, current, DeploySpec.from_json(target.spec))})


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
