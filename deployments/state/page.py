"""What the deployment page shows, per tab: built from stored state for a view and for the live socket.

The view renders the whole page; the consumer renders only the fragments of the tab the viewer
has open (`FRAGMENTS`), both from the same context, so a live update never targets an element
that is not on the page.
"""

from __future__ import annotations

import json
from typing import Any

from deployments.models import Build, Deployment, Membership, RolloutAction, RolloutStatus
from deployments.rollouts.spec import DeploySpec
from deployments.state.report import report

TEMPLATE = "deployments/deployment/detail.html"
TABS = ("overview", "configuration", "events")
HEADER = ("status", "replica-counts", "status-reason")
FRAGMENTS = {
    "overview": (*HEADER, "endpoint", "replicas", "undeploy"),
    "configuration": HEADER,
    "events": (*HEADER, "rollouts", "event-list"),
}
EVENTS_SHOWN = 200


def page_context(deployment: Deployment, membership: Membership | None, can_write: bool,
                 tab: str) -> dict[str, Any]:
    """What a tab (and the live socket's fragments of it) needs; stored state only."""
    context: dict[str, Any] = {"deployment": deployment, "model": deployment.model, "project": deployment.model.project,
               "membership": membership, "can_write": can_write, "report": report(deployment), "tab": tab}
    if tab == "overview":
        context["example_json"] = example_json(deployment)
    elif tab == "events":
        context.update(rollouts_context(deployment), events=events(deployment))
    return context


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


def events(deployment: Deployment) -> list[Any]:
    return list(deployment.events.select_related("rollout").order_by("-created_at", "-id")[:EVENTS_SHOWN])
