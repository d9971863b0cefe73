"""The deployment page's Prediction tab: send a JSON request through the gateway, see what came back.

Viewers and up may predict and run saved cases: a test prediction reads (it goes through the same
gateway as any client and changes nothing but the caller's own history). Saving and deleting cases
needs the deployer role, since cases are what a deployment is checked against. Without JavaScript
each form posts and the whole tab re-renders; with htmx only the result box (or the cases box) swaps.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from deployments.access import get_deployment_for_user
from deployments.models import Deployment, Membership, Role, SavedCase
from deployments.prediction import cases, files, history
from deployments.prediction.gateway import MAX_BODY_BYTES, MAX_BODY_LABEL, PredictionInputError, parse_body, send
from deployments.state.page import TEMPLATE, example_json, page_context, serving_build

PARTIALS = "deployments/deployment/predict.html"


class HtmxHttpRequest(HttpRequest):
    """A logged-in (login_required) request through django-htmx's middleware."""

    htmx: HtmxDetails
    user: User  # login_required comes first


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _example(deployment: Deployment) -> str:
    return _pretty(example_json(deployment))


def _tab(request: HtmxHttpRequest, deployment: Deployment, membership: Membership,
         extra: dict[str, Any] | None = None) -> HttpResponse:
    user = request.user
    context = page_context(deployment, membership, membership.allows(Role.DEPLOYER), "predict") | {
        "live_tab": "configuration",  # the live socket updates the header only: this tab has no live parts
        "variations": [v.name for v in deployment.variations.all() if not v.shadow],
        "history": history.recent(deployment, user), "case_rows": _case_rows(deployment, extra),
        "max_body_bytes": MAX_BODY_BYTES, "max_body_label": MAX_BODY_LABEL,
        "can_save_cases": membership.allows(Role.DEPLOYER), "body": _example(deployment), "variation": "",
    }
    return render(request, TEMPLATE, context | (extra or {}))


@login_required
@require_http_methods(["GET", "POST"])
def deployment_predict(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    if request.method == "GET":
        extra: dict[str, Any] = {}
        call = history.recent(deployment, request.user)
        refill = next((c for c in call if str(c.pk) == request.GET.get("call", "")), None)
        if refill is not None:
            extra = {"body": _pretty(refill.request_body), "variation": refill.variation}
        return _tab(request, deployment, membership, extra)
    body, variation = request.POST.get("body", ""), request.POST.get("variation", "")
    if variation and variation not in {v.name for v in deployment.variations.all()}:
        result: dict[str, Any] = {"input_error": f"This deployment has no variation named {variation!r}."}
    else:
        try:
            sent, payload, summary = _request_body(request, deployment, body, variation)
        except PredictionInputError as exc:
            result = {"input_error": str(exc)}
        else:
            answer = send(deployment, payload, variation)
            history.record(deployment, request.user, sent, variation, answer)
            result = {"answer": answer, "pretty_body": _pretty(answer.body), "file_summary": summary}
    extra = result | {"body": body, "variation": variation}
    if request.htmx:
        return render(request, f"{PARTIALS}#result", extra | {
            "deployment": deployment, "history": history.recent(deployment, request.user), "oob": True,
            "can_save_cases": membership.allows(Role.DEPLOYER)})
    return _tab(request, deployment, membership, extra)


def _request_body(request: HttpRequest, deployment: Deployment, typed: str, variation: str) -> tuple[str, bytes, str]:
    """What to send: the chosen file's body (files.py), else the typed JSON; the text kept, the bytes, a summary."""
    upload = request.FILES.get("file")
    if upload is None:
        _, payload = parse_body(typed)
        return typed, payload, ""
    build = serving_build(deployment, variation)
    found = files.body_from_file(upload, build.input_schema if build else None)
    return found.text, found.payload, found.summary


@login_required
@require_POST
def predict_case_save(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    form = {key: request.POST.get(key, "") for key in ("name", "body", "expected", "tolerance", "variation")}
    try:
        cases.save_case(deployment, request.user, form["name"], form["body"], form["expected"],
                        form["tolerance"])
    except ValidationError as exc:
        return _cases(request, deployment, membership, {"case_errors": exc.message_dict, "case_form": form,
                                                        "body": form["body"], "variation": form["variation"]})
    return _cases(request, deployment, membership, {"case_saved": form["name"].strip(), "body": form["body"],
                                                    "variation": form["variation"]})


@login_required
@require_POST
def predict_case_delete(request: HtmxHttpRequest, pk: int, case_pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
    SavedCase.objects.filter(deployment=deployment, pk=case_pk).delete()
    if not request.htmx:
        return redirect(reverse("deployment-predict", args=[deployment.pk]))
    return _cases(request, deployment, membership)


@login_required
@require_POST
def predict_cases_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    variation = request.POST.get("variation", "")
    if variation and variation not in {v.name for v in deployment.variations.all()}:
        return _cases(request, deployment, membership, {
            "run_error": f"This deployment has no variation named {variation!r}."})
    results = cases.run_cases(deployment, variation)
    return _cases(request, deployment, membership, {
        "results": {r.case.pk: r for r in results}, "run_variation": variation or "any variation",
        "passed": sum(r.passed for r in results), "ran": len(results)})


def _case_rows(deployment: Deployment, extra: dict[str, Any] | None) -> list[tuple[SavedCase, Any]]:
    """Each saved case with its result from the run just made (None: not run)."""
    results = (extra or {}).get("results", {})
    return [(case, results.get(case.pk)) for case in SavedCase.objects.filter(deployment=deployment)]


def _cases(request: HtmxHttpRequest, deployment: Deployment, membership: Membership,
           extra: dict[str, Any] | None = None) -> HttpResponse:
    if request.htmx:
        return render(request, f"{PARTIALS}#cases", (extra or {}) | {
            "deployment": deployment, "case_rows": _case_rows(deployment, extra),
            "can_save_cases": membership.allows(Role.DEPLOYER),
            "variations": [v.name for v in deployment.variations.all() if not v.shadow]})
    return _tab(request, deployment, membership, extra)
