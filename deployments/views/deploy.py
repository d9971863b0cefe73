"""The deploy wizard: Realtime → configure (validated as you type) → review (diff) → Deploy.

The form starts from what serves now or, once undeployed, from the last revision that
served. The reviewed draft waits in the session (typed secrets sealed) so "Deploy" rolls
out exactly what the user reviewed; `rollouts.deploy` checks it once more and creates the
Rollout. A build change whose schemas differ must be acknowledged on Review, and is
checked again here when Deploy is pressed.

The deployment's environment ("production") is shown as its *stage*, so that
"environment" only ever means environment variables on these pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import forms_deploy as wizard_forms
from deployments.access import get_model_for_user
from deployments.forms_deploy import DeployWizard
from deployments.models import BuildStatus, Deployment, Model, Role, Rollout
from deployments.rollouts.requests import RolloutConflict, current_spec, deploy
from deployments.rollouts.spec import DeploySpec, validate_spec
from deployments.rollouts.spec_edit import diff, last_served_rollout, with_kept_secrets
from deployments.views.changes import builds_named, shown_changes
from deployments.views.deployments import announce

ENVIRONMENT = "production"
CONFIGURE = "deployments/deploy/configure.html"
REVIEW = "deployments/deploy/review.html"
START = "deployments/deploy/start.html"
ACKNOWLEDGE = "accept_schema_change"


def _draft_key(model: Model) -> str:
    return f"deploy-draft:{model.pk}"


@dataclass(frozen=True)
class Base:
    """What the wizard edits: the deployment, what serves now, and the revision the form starts from."""

    deployment: Deployment | None = None
    current: DeploySpec | None = None      # serving now
    served: Rollout | None = None          # the last revision that served (the current one while serving)

    @cached_property
    def spec(self) -> DeploySpec | None:
        return DeploySpec.from_json(self.served.spec) if self.served is not None else None

    @property
    def stopped(self) -> bool:
        return self.current is None and self.served is not None


def _base(model: Model) -> Base:
    deployment = Deployment.objects.filter(model=model, environment=ENVIRONMENT).select_related(
        "current_rollout").first()
    if deployment is None:
        return Base()
    current = current_spec(deployment)
    served = deployment.current_rollout if current is not None else last_served_rollout(deployment)
    return Base(deployment, current, served)


@login_required
def deploy_start(request: HttpRequest, model_id: str) -> HttpResponse:
    """Step 1: what kind of deployment (only real-time is offered today)."""
    model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
    build = request.GET.get("build", "")
    return render(request, START, {"model": model, "project": model.project, "build": build, "stage": ENVIRONMENT,
                                   **_readiness(model)})


def _readiness(model: Model) -> dict[str, Any]:
    """Whether the model has a build to deploy, and how many are still being validated."""
    return {"has_ready_build": model.builds.filter(status=BuildStatus.READY).exists(),
            "builds_validating": model.builds.filter(status=BuildStatus.BUILDING).count()}


def _no_ready_build(request: HttpRequest, model: Model) -> HttpResponse | None:
    """The page saying why there is nothing to configure yet, when the model has no ready build."""
    readiness = _readiness(model)
    if readiness["has_ready_build"]:
        return None
    status = 200 if request.method == "GET" else 400
    return render(request, START, {"model": model, "project": model.project, "stage": ENVIRONMENT, **readiness},
                  status=status)


@login_required
def deploy_realtime(request: HttpRequest, model_id: str) -> HttpResponse:
    """Step 2 and 3: configure, then review; POST action=review|deploy|add_variation|add_env:N|remove:N|rebalance."""
    model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
    refused = _no_ready_build(request, model)
    if refused is not None:
        return refused
    base = _base(model)
    validate_url = reverse("deploy-validate", args=[model.model_id])
    if request.method != "POST":
        wizard = DeployWizard.start(model, base.spec, request.GET.get("build", ""), validate_url)
        return _configure(request, model, base, wizard)
    action = request.POST.get("action", "review")
    if action == "deploy":
        return _deploy(request, model, base, validate_url)
    edited = _edit(request.POST, action, model)
    if edited is not None:  # errors are checked again, so none of those shown goes away unfixed
        wizard = DeployWizard(model, edited, previous=base.spec, validate_url=validate_url)
        wizard.is_valid()
        return _configure(request, model, base, wizard)
    wizard = DeployWizard(model, request.POST, previous=base.spec, validate_url=validate_url)
    if not wizard.is_valid() or wizard.spec is None:
        return _configure(request, model, base, wizard, status=400, focus_summary=True)
    draft = wizard.spec_data()
    if base.stopped and base.spec is not None:  # `deploy` only keeps secrets of what serves now
        draft = with_kept_secrets(draft, base.spec)
    request.session[_draft_key(model)] = wizard_forms.seal(draft)
    return _review(request, model, base, wizard.spec)


@login_required
@require_POST
def validate_field(request: HttpRequest, model_id: str) -> HttpResponse:
    """The error list of the one field the user is typing in (htmx sends its name in HX-Trigger-Name)."""
    model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
    name = request.htmx.trigger_name or request.POST.get("field", "")  # type: ignore[attr-defined]
    errors = wizard_forms.field_errors(model, request.POST, name)
    if errors is None:
        return HttpResponse(f"Unknown field {name!r}.", status=400)
    context: dict[str, Any] = {"html_name": name, "errors": errors, "model": model}
    if name.endswith(("-traffic_percent", "-shadow")):
        context["wizard"] = DeployWizard(model, request.POST)
        context["traffic_oob"] = True
    return render(request, f"{CONFIGURE}#field-errors", context)


def _edit(data: Any, action: str, model: Model) -> Any:
    if action == "add_variation":
        return wizard_forms.add_variation(data, model)
    if action.startswith("add_env:") and action[8:].isdigit():
        return wizard_forms.add_env_row(data, int(action[8:]))
    if action.startswith("remove:") and action[7:].isdigit():
        return wizard_forms.remove_variation(data, int(action[7:]))
    if action == "rebalance":
        return wizard_forms.rebalanced(data)
    return None


def _deploy(request: HttpRequest, model: Model, base: Base, validate_url: str) -> HttpResponse:
    draft = request.session.get(_draft_key(model))
    if not draft:
        messages.error(request, "Nothing to deploy: the reviewed configuration expired. Configure it again.")
        return redirect("deploy-realtime", model_id=model.model_id)
    data = wizard_forms.unseal(draft)
    if _unacknowledged(request, base, data):
        return _refuse_unacknowledged(request, model, base, data)
    try:
        rollout = deploy(model, data, request.user, ENVIRONMENT)
    except RolloutConflict as exc:
        context = _review_context(model, base, None)
        context["conflict"] = exc.messages[0]
        return render(request, REVIEW, context, status=409)
    except ValidationError as exc:
        wizard = DeployWizard(model, initial=data, previous=base.spec, validate_url=validate_url)
        wizard.errors = [f"{key}: {' '.join(msgs)}" if key != "__all__" else " ".join(msgs)
                         for key, msgs in (exc.message_dict if hasattr(exc, "error_dict") else
                                           {"__all__": exc.messages}).items()]
        return _configure(request, model, base, wizard, status=400)
    del request.session[_draft_key(model)]
    announce(request, rollout)  # tagged with the rollout: the live page rewrites it when the rollout ends
    return redirect("deployment-events", pk=rollout.deployment_id)


def _unacknowledged(request: HttpRequest, base: Base, data: dict[str, Any]) -> bool:
    """A build change whose schemas differ, deployed without ticking "I understand"."""
    moves = [(str(v.get("name") or "default"), str(v.get("build_id"))) for v in data.get("variations", [])]
    return wizard_forms.schema_changed(wizard_forms.build_changes(base.spec, moves)) \
        and not request.POST.get(ACKNOWLEDGE)


def _refuse_unacknowledged(request: HttpRequest, model: Model, base: Base, data: dict[str, Any]) -> HttpResponse:
    try:
        spec: DeploySpec | None = validate_spec(model, data, base.spec)
    except ValidationError:
        spec = None
    context = _review_context(model, base, spec)
    context["unacknowledged"] = True
    return render(request, REVIEW, context, status=400)


def _configure(request: HttpRequest, model: Model, base: Base, wizard: DeployWizard,
               status: int = 200, focus_summary: bool = False) -> HttpResponse:
    context = {"model": model, "project": model.project, "deployment": base.deployment, "base": base,
               "wizard": wizard, "focus_summary": focus_summary, "stage": ENVIRONMENT,
               "on_kubernetes": wizard_forms.on_kubernetes()}
    template = f"{CONFIGURE}#deploy-form" if request.htmx else CONFIGURE  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


def _review_context(model: Model, base: Base, spec: DeploySpec | None) -> dict[str, Any]:
    builds = builds_named(model, base.spec, spec)
    moves = [(v.name, v.build_id) for v in spec.variations] if spec is not None else []
    build_changes = wizard_forms.build_changes(base.spec, moves)
    return {"model": model, "project": model.project, "deployment": base.deployment, "spec": spec, "base": base,
            "stage": ENVIRONMENT, "acknowledge": ACKNOWLEDGE,
            "running": [(v, builds.get(v.build_id)) for v in spec.variations] if spec is not None else [],
            "changes": shown_changes(diff(base.spec, spec), builds) if spec is not None else [],
            "build_changes": build_changes, "schema_changed": wizard_forms.schema_changed(build_changes),
            "current_revision": base.served.revision if base.served is not None else None}


def _review(request: HttpRequest, model: Model, base: Base, spec: DeploySpec) -> HttpResponse:
    return render(request, REVIEW, _review_context(model, base, spec))
