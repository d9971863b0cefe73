"""Deployments as the console stores them once serving, with the launch records the collector reads.

Rows are made through the deployment code's own steps (validate_spec, the engine's
write_variations, the state observer's observe) as tests/fixtures/deployments.py makes them,
without running the runtime: each replica's launch record (deployments.backends.local_files)
points at a simulated replica's endpoint instead of a model server, and its starts file says it
was started once. monitoring.targets then finds them exactly as it finds real local replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from deployments.backends.base import ReplicaState, ReplicaStatus
from deployments.backends.local_files import DeploymentFiles, LaunchRecord
from deployments.backends.replica_id import desired_replicas
from deployments.models import (
    Build,
    BuildStatus,
    Deployment,
    Membership,
    Model,
    Project,
    Role,
    Rollout,
    RolloutStatus,
)
from deployments.models.instance_type import ensure_catalog
from deployments.rollouts.engine import write_variations
from deployments.rollouts.spec import DeploySpec, validate_spec
from deployments.state.observer import observe


@dataclass(frozen=True)
class Owner:
    user: User
    project: Project


def an_owner() -> Owner:
    """A user administering a project of their own (the chart query's logged-in client)."""
    user = User.objects.create_user("bench", "bench@example.com", None)
    project = Project.objects.create(slug="bench", name="Bench")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return Owner(user, project)


class AllReady:
    """The runtime as the state observer sees it: every replica of the spec ready at its endpoint."""

    def __init__(self, deployment: Deployment, endpoints: list[str]) -> None:
        assert deployment.current_rollout is not None
        spec = DeploySpec.from_json(deployment.current_rollout.spec)
        self.statuses = [ReplicaStatus(id=rid, endpoint=endpoint, state=ReplicaState.READY)
                         for rid, endpoint in zip(desired_replicas(deployment.pk, spec), endpoints, strict=True)]

    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        return self.statuses

    def gateway_problem(self, deployment: Deployment) -> str:
        return ""


def serving_deployment(owner: Owner, name: str, endpoints: list[str], gateway_url: str) -> Deployment:
    """A deployment serving one variation of len(endpoints) replicas, whose launch records point at them,
    with its gateway at `gateway_url` (monitoring.targets scrapes it there)."""
    ensure_catalog()
    model = Model.objects.create(project=owner.project, model_id=name, name=name)
    build = Build.objects.create(model=model, status=BuildStatus.READY, framework="python", source_name="iris.tar.gz")
    spec = validate_spec(model, {"variations": [{"name": "default", "build_id": str(build.build_id),
                                                 "instance_type": "small", "replicas": len(endpoints)}]})
    port = int(gateway_url.rsplit(":", 1)[1])
    deployment = Deployment.objects.create(model=model, gateway_port=port, gateway_url=gateway_url)
    now = timezone.now()
    deployment.current_rollout = Rollout.objects.create(deployment=deployment, revision=1, spec=spec.to_json(),
                                                        status=RolloutStatus.SUCCEEDED, started_at=now,
                                                        finished_at=now)
    deployment.save()
    write_variations(deployment, spec)
    _write_launch_records(deployment, spec, endpoints)
    observe(deployment, AllReady(deployment, endpoints))  # type: ignore[arg-type]
    return deployment


def _write_launch_records(deployment: Deployment, spec: DeploySpec, endpoints: list[str]) -> None:
    files = DeploymentFiles(Path(settings.BERTH_RUNTIME_DIR), deployment.pk)
    for (rid, variation), endpoint in zip(desired_replicas(deployment.pk, spec).items(), endpoints, strict=True):
        files.write_record(LaunchRecord(rid, endpoint, variation.build_id, argv=[], base_env={}, env={},
                                        secret_env={}, starts_file=str(files.starts_path(rid))))
        files.starts_path(rid).write_text("started once\n")


def remove(deployment: Deployment) -> None:
    """The deployment's rows (points and scrape baseline go with it) and its runtime files."""
    DeploymentFiles(Path(settings.BERTH_RUNTIME_DIR), deployment.pk).remove()
    model = deployment.model
    deployment.delete()  # first: its variations protect the build
    model.delete()
