"""What a new spec changes, as the wizard's Review and the rollback confirmation show it: each
change with, where a build changes, the two builds themselves (name, upload time, short id)."""

from __future__ import annotations

from typing import Any

from deployments.models import Build, Model
from deployments.rollouts.spec import DeploySpec
from deployments.rollouts.spec_edit import diff


def changes_shown(model: Model, current: DeploySpec | None, new: DeploySpec) -> list[dict[str, Any]]:
    """`diff(current, new)` with the builds of its build changes."""
    return shown_changes(diff(current, new), builds_named(model, current, new))


def builds_named(model: Model, *specs: DeploySpec | None) -> dict[str, Build]:
    """The builds the specs name, by build id (for showing them by name, upload time and short id)."""
    ids = {v.build_id for spec in specs if spec is not None for v in spec.variations}
    return {str(b.build_id): b for b in model.builds.filter(build_id__in=ids)}


def shown_changes(changes: list[Any], builds: dict[str, Build]) -> list[dict[str, Any]]:
    """Each change with, for a build change, the two builds themselves (name, upload time, short id)."""
    return [{"change": c, "before_build": builds.get(c.before) if c.what == "Build" else None,
             "after_build": builds.get(c.after) if c.what == "Build" else None} for c in changes]
