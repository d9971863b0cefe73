"""The deployment page's Usage tab: how a client calls this deployment, and what it sends and gets back.

Stored state only: the serving revision's variations and their builds' schemas and examples, the
endpoint addresses and the snippets (as on the Overview). Any member may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.access import get_deployment_for_user
from deployments.models import Build, Deployment, Role
from deployments.rollouts.spec import DeploySpec
from deployments.state.page import TEMPLATE, example_json, page_context


@dataclass(frozen=True)
class VariationUsage:
    name: str
    traffic: str
    url: str
    build: Build | None

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return _fields(self.build.input_schema if self.build else None)

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return _fields(self.build.output_schema if self.build else None)


def _fields(schema: Any) -> list[dict[str, Any]]:
    return [field for field in schema or [] if isinstance(field, dict) and "name" in field]


def serving_variations(deployment: Deployment) -> list[VariationUsage]:
    """The variations of the serving revision, with the build each runs (None: deleted since)."""
    if not deployment.current_rollout:
        return []
    spec = DeploySpec.from_json(deployment.current_rollout.spec)
    builds = {str(b.build_id): b for b in Build.objects.filter(build_id__in=[v.build_id for v in spec.variations])}
    return [VariationUsage(v.name, "shadow (a copy of traffic)" if v.shadow else f"{v.traffic_percent}%",
                           deployment.variation_predict_url(v.name), builds.get(str(v.build_id)))
            for v in spec.variations]


@login_required
def deployment_usage(request: HttpRequest, pk: int) -> HttpResponse:
    deployment, membership = get_deployment_for_user(request.user, pk)
    context = page_context(deployment, membership, membership.allows(Role.DEPLOYER), "usage") | {
        "live_tab": "configuration",  # the live socket updates the header only: this tab has no live parts
        "usage_variations": serving_variations(deployment), "example_json": example_json(deployment),
        "console_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, TEMPLATE, context)
