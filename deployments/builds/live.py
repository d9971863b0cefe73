"""Live build status: which group a model's builds publish to."""

from __future__ import annotations

from console.live import group_name, publish_change
from deployments.models import Build


def builds_group(model_pk: int) -> str:
    return group_name("model", model_pk, "builds")


def publish_build(build: Build) -> None:
    publish_change(builds_group(build.model_id), "build", build.build_id)
