"""Where a build is deployed, and deleting a build that is not.

A build is in use while a deployment serves it (a Variation row) or any revision of an existing
deployment names it in its spec (the revisions a rollback can return to). Such a build can't be
deleted; any other finished build can, with its files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from deployments.models import Build, BuildStatus, Deployment, Rollout, Variation


@dataclass
class BuildUse:
    """One deployment using a build: the variations serving it now, and the revisions naming it."""

    deployment: Deployment
    serving: list[str] = field(default_factory=list)
    revisions: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.deployment.model.model_id} in {self.deployment.environment} (deployment {self.deployment.pk})"

    @property
    def how(self) -> str:
        """E.g. "serving in variation default; named by revisions 1, 2"."""
        parts = []
        if self.serving:
            parts.append(f"serving in variation {', '.join(self.serving)}")
        if self.revisions:
            parts.append(f"named by revision{'s' if len(self.revisions) > 1 else ''} "
                         + ", ".join(str(r) for r in self.revisions))
        return "; ".join(parts)


class BuildInUse(ValidationError):
    """The build can't be deleted now; the message says why and what to do first (HTTP 409)."""


def build_uses(build: Build) -> list[BuildUse]:
    """The deployments using `build`, oldest first (two queries, however many)."""
    uses: dict[int, BuildUse] = {}
    for variation in Variation.objects.filter(build=build).select_related("deployment__model"):
        _use(uses, variation.deployment).serving.append(variation.name)
    naming = Rollout.objects.filter(spec__variations__contains=[{"build_id": str(build.build_id)}])
    for rollout in naming.select_related("deployment__model").order_by("revision"):
        _use(uses, rollout.deployment).revisions.append(rollout.revision)
    return [uses[pk] for pk in sorted(uses)]


def _use(uses: dict[int, BuildUse], deployment: Deployment) -> BuildUse:
    return uses.setdefault(deployment.pk, BuildUse(deployment))


def delete_build(build: Build) -> None:
    """Delete a finished build no deployment uses, then its files; else BuildInUse saying why."""
    with transaction.atomic():
        locked = Build.objects.select_for_update().select_related("model").get(pk=build.pk)
        _refuse_if_busy(locked)
        storage = locked.storage_dir
        locked.delete()
        transaction.on_commit(lambda: shutil.rmtree(storage, ignore_errors=True))


def _refuse_if_busy(build: Build) -> None:
    if build.status == BuildStatus.BUILDING:
        raise BuildInUse(f"Build {build.name} is still being validated; delete it once it is ready or failed.",
                         code="building")
    uses = build_uses(build)
    if uses:
        named = "; ".join(f"{use.name} uses it ({use.how})" for use in uses)
        raise BuildInUse(f"Build {build.name} can't be deleted: {named}. A deployment keeps every "
                         "build its revisions name, so a rollback can return to them.", code="in_use")
