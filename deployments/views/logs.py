"""The deployment page's Logs tab: the newest retained lines, filtered on the server, "Load older"
paging back, a download of a time range; live lines then stream on top over the logs socket
(deployments/consumers/logs.py, static/console/logs.js).

Viewers and up read logs (they see what the deployment does, never its secrets: those are not
logged). Filters and cursors are parsed once (deployments.logs.query); a bad one is said next to
the form, never a 500.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from deployments.access import get_deployment_for_user
from deployments.backends.base import BackendError, get_backend
from deployments.logs.history import PAGE_LINES, LogPage, lines_between, older_page
from deployments.logs.lines import GATEWAY, LEVELS, variation_of
from deployments.logs.query import LogQuery, LogQueryError, decode_cursor
from deployments.models import Deployment, Role
from deployments.state.page import TEMPLATE, page_context

PARTIALS = "deployments/deployment/logs.html"
FORMATS = {"text": ("text/plain; charset=utf-8", "log"), "ndjson": ("application/x-ndjson", "ndjson")}
DEFAULT_DOWNLOAD = timedelta(hours=1)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@login_required
@require_GET
def deployment_logs(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    errors: dict[str, str] = {}
    try:
        query = LogQuery.parse(request.GET).without_times()
        before = decode_cursor(request.GET["before"]) if request.GET.get("before") else None
    except LogQueryError as exc:
        query, before, errors = LogQuery(), None, exc.errors
    page, problem = _read(deployment, query, before)
    context = {"deployment": deployment, "query": query, "page": page, "errors": errors, "problem": problem,
               "lines": page.lines, **_choices(deployment)}
    if request.htmx and before is not None:  # "Load older": its rows and the next such link
        return render(request, f"{PARTIALS}#older", context)
    if request.htmx and request.htmx.target == "logs-panel":  # the filters changed
        return render(request, f"{PARTIALS}#panel", context)
    full = page_context(deployment, membership, membership.allows(Role.DEPLOYER), "logs")
    return render(request, TEMPLATE, full | context | {"live_tab": "configuration"})  # header only from the socket


@login_required
@require_GET
def deployment_logs_download(request: HttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """`?since=&until=&format=text|ndjson` and the tab's filters: the lines as a file (newest 100,000 at most)."""
    deployment, _ = get_deployment_for_user(request.user, pk)
    format_ = request.GET.get("format") or "text"
    try:
        query = LogQuery.parse(request.GET)
        if format_ not in FORMATS:
            raise LogQueryError({"format": "text or ndjson"})
    except LogQueryError as exc:
        return HttpResponse(f"The download was not made: {exc}\n", status=400, content_type="text/plain")
    now = timezone.now()
    until = query.until or now
    since = query.since or until - DEFAULT_DOWNLOAD
    query = replace(query, since=since, until=until)
    try:
        lines = lines_between(get_backend(), deployment, query)
    except BackendError as exc:
        return HttpResponse(f"No logs: {exc}\n", status=503, content_type="text/plain")
    content_type, suffix = FORMATS[format_]
    rows = ((json.dumps(line.to_json(), default=str) if format_ == "ndjson" else line.text) + "\n" for line in lines)
    response = StreamingHttpResponse(rows, content_type=content_type)
    name = f"{deployment.model.model_id}-{deployment.environment}-{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}"
    response["Content-Disposition"] = f'attachment; filename="{name}.{suffix}"'
    return response


def _read(deployment: Deployment, query: LogQuery, before: dict[str, Any] | None) -> tuple[LogPage, str]:
    try:
        return older_page(get_backend(), deployment, query, before, PAGE_LINES), ""
    except BackendError as exc:
        return LogPage([], None, ""), str(exc)


def _choices(deployment: Deployment) -> dict[str, Any]:
    """What the filters offer: the deployment's variations, and every replica with retained logs."""
    try:
        sources = get_backend().log_sources(deployment)
    except BackendError:
        sources = []
    replicas = [s for s in sources if s != GATEWAY]
    variations = sorted({v.name for v in deployment.variations.all()} | {variation_of(s) for s in replicas} - {""})
    return {"variation_choices": variations, "replica_choices": [*replicas, GATEWAY] if GATEWAY in sources
            else replicas, "levels": LEVELS, "download_since": timezone.now() - DEFAULT_DOWNLOAD}
