"""What the deployment page shows, per tab: built from stored state for a view and for the live socket.

The view renders the whole page; the consumer renders only the fragments of the tab the viewer
has open (`FRAGMENTS`), both from the same context, so a live update never targets an element
that is not on the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from deployments.models import (
    Build,
    Deployment,
    EventKind,
    EventLevel,
    Membership,
    Rollout,
    RolloutAction,
    RolloutEvent,
    RolloutStatus,
)
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
EVENTS_PER_PAGE = 50


@dataclass(frozen=True)
class EventQuery:
    """Which events the Rollouts & events tab shows: `?level=&kind=&page=`, unknown values ignored."""

    level: str = ""
    kind: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> EventQuery:
        level, kind, page = params.get("level", ""), params.get("kind", ""), params.get("page", "")
        return cls(level if level in EventLevel.values else "", kind if kind in EventKind.values else "",
                   int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 7 and int(page) else 1)

    def filter(self, events: QuerySet[RolloutEvent]) -> QuerySet[RolloutEvent]:
        return events.filter(**{name: value for name, value in (("level", self.level), ("kind", self.kind)) if value})

    def matches(self, event: RolloutEvent) -> bool:
        return self.level in ("", event.level) and self.kind in ("", event.kind)

    @property
    def is_filtered(self) -> bool:
        return bool(self.level or self.kind)

    def query_string(self, page: int | None = None) -> str:
        """`level=…&kind=…&page=…`, leaving out what is not set (page 1 included)."""
        page = self.page if page is None else page
        pairs = [("level", self.level), ("kind", self.kind), ("page", str(page) if page > 1 else "")]
        return urlencode([(name, value) for name, value in pairs if value])


def page_context(deployment: Deployment, membership: Membership | None, can_write: bool,
                 tab: str, event_query: EventQuery | None = None) -> dict[str, Any]:
    """What a tab (and the live socket's fragments of it) needs; stored state only."""
    context: dict[str, Any] = {"deployment": deployment, "model": deployment.model, "project": deployment.model.project,
               "membership": membership, "can_write": can_write, "report": report(deployment), "tab": tab}
    if tab == "overview":
        context["example_json"] = example_json(deployment)
    elif tab == "events":
        context |= rollouts_context(deployment) | events_context(deployment, event_query or EventQuery())
    return context


def serving_build(deployment: Deployment, variation: str = "") -> Build | None:
    """The build the current revision runs on `variation` (the first variation when none is named)."""
    spec = DeploySpec.from_json(deployment.current_rollout.spec) if deployment.current_rollout else None
    chosen = [v for v in spec.variations if not variation or v.name == variation] if spec else []
    return Build.objects.filter(build_id=chosen[0].build_id).first() if chosen else None


def example_json(deployment: Deployment) -> str:
    """A request body for the snippets: the serving build's example input, else a placeholder."""
    build = serving_build(deployment)
    example = (build.example_input if build else None) or [{"feature": 1.0}]
    return json.dumps(example[:1] if isinstance(example, list) else example)


def rollouts_context(deployment: Deployment) -> dict[str, Any]:
    rollouts = list(deployment.rollouts.select_related("triggered_by").order_by("-revision"))
    serving = deployment.current_rollout_id if deployment.is_serving else None
    builds = revision_builds(rollouts)
    return {"revisions": [(r, builds[r.revision]) for r in rollouts], "rollback_revisions": {
        r.revision for r in rollouts if r.status in (RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK)
        and r.action != RolloutAction.UNDEPLOY and r.pk != serving}}


@dataclass(frozen=True)
class RevisionBuild:
    """One variation of a revision and the build it runs (None: the build was deleted since)."""

    revision: int
    variation: str
    build_id: str
    build: Build | None

    @property
    def id_prefix(self) -> str:
        """For the build's copyable full id: one build shows in many revisions, each element's id is its own."""
        return f"revision-{self.revision}-{self.variation}"


def revision_builds(rollouts: Iterable[Rollout]) -> dict[int, list[RevisionBuild]]:
    """Each revision's builds by variation, read from its frozen spec; one query for them all."""
    specs = {rollout.revision: DeploySpec.from_json(rollout.spec) for rollout in rollouts}
    ids = {v.build_id for spec in specs.values() for v in spec.variations}
    builds = {str(build.build_id): build for build in Build.objects.filter(build_id__in=ids).select_related("model")}
    return {revision: [RevisionBuild(revision, v.name, v.build_id, builds.get(v.build_id)) for v in spec.variations]
            for revision, spec in specs.items()}


def events_context(deployment: Deployment, query: EventQuery) -> dict[str, Any]:
    """One page of the deployment's events, newest first, filtered as asked."""
    events = query.filter(deployment.events.select_related("rollout").order_by("-created_at", "-id"))
    page: Page = Paginator(events, EVENTS_PER_PAGE).get_page(query.page)
    return {"events": list(page), "events_page": page, "event_query": query,
            "event_levels": EventLevel.choices, "event_kinds": event_kinds(deployment, query)}


def event_kinds(deployment: Deployment, query: EventQuery) -> list[tuple[str, str]]:
    """The kinds to filter by: those this deployment's events have (and the one chosen), in the usual order."""
    present = set(deployment.events.order_by().values_list("kind", flat=True).distinct()) | {query.kind}
    return [(value, label) for value, label in EventKind.choices if value in present]


@dataclass(frozen=True)
class Notice:
    """What the message at the top says about a requested rollout: while it runs, then how it ended."""

    level: str      # a Django message tag: info, success or error
    text: str
    done: bool


RUNNING_WORDS = {
    RolloutAction.DEPLOY: "Revision {revision} is rolling out.",
    RolloutAction.ROLLBACK: "Rolling back to revision {source} (as revision {revision}).",
    RolloutAction.SCALE: "Scaling: revision {revision} is under way; running replicas keep serving.",
    RolloutAction.UNDEPLOY: "Undeploy started: stopping every replica and the gateway.",
}
DONE_WORDS = {
    RolloutAction.DEPLOY: "Revision {revision} rolled out and serves.",
    RolloutAction.ROLLBACK: "Rolled back: revision {revision} (revision {source}'s configuration) serves.",
    RolloutAction.SCALE: "Scaled: revision {revision} serves.",
    RolloutAction.UNDEPLOY: "Undeployed: every replica and the gateway stopped.",
}


def notice(rollout: Rollout) -> Notice:
    """The message for a rollout someone asked for, as its stored status stands now."""
    words = {"revision": rollout.revision, "source": rollout.source_revision}
    if rollout.is_active:
        return Notice("info", RUNNING_WORDS[RolloutAction(rollout.action)].format(**words), done=False)
    if rollout.status == RolloutStatus.FAILED:
        why = rollout.reason or "its events say why"
        return Notice("error", f"{rollout.get_action_display()} (revision {rollout.revision}) failed: {why}", True)
    return Notice("success", DONE_WORDS[RolloutAction(rollout.action)].format(**words), done=True)


def notices(deployment: Deployment, rollout_pks: Sequence[int]) -> list[tuple[Rollout, Notice]]:
    """The messages a viewer was shown about this deployment's rollouts (`rollout_pks`), as they stand now."""
    rollouts = deployment.rollouts.filter(pk__in=rollout_pks).order_by("revision") if rollout_pks else []
    return [(rollout, notice(rollout)) for rollout in rollouts]
