"""A deployment with two variations, as a Kubernetes console would have validated it.

`default` runs on a CPU type with plain and secret env vars and an IAM role; `challenger` on a
GPU type. The spec goes through the real `validate_spec` with BERTH_BACKEND=kubernetes (GPU types
and IAM roles are refused on the local runtime), so its secrets are encrypted as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.backends.kubernetes.inputs import ClusterSettings, Manifest
from deployments.backends.kubernetes.manifests import manifests_for
from deployments.models import Build, BuildStatus, Deployment, Model
from deployments.models.instance_type import ensure_catalog
from deployments.rollouts.spec import DeploySpec, validate_spec

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "docker" / "kubernetes"
SECRET_TOKEN = "tok-3f9a-very-secret"  # noqa: S105 - the test's secret env value
CLUSTER = ClusterSettings(model_server_image="registry.example.com/berth/model-server:1.0",
                          ingress_class="nginx", ingress_host_pattern="{model}-{environment}.models.example.com")


@dataclass
class Deployed:
    deployment: Deployment
    spec: DeploySpec
    objects: list[Manifest]

    def one(self, kind: str, variation: str | None = None, component: str = "model-server") -> Manifest:
        found = [o for o in self.objects if o["kind"] == kind
                 and o["metadata"]["labels"]["app.kubernetes.io/component"] == component
                 and (variation is None or o["metadata"]["labels"].get("berth.dev/variation") == variation)]
        assert len(found) == 1, f"{len(found)} {kind} objects for {variation or component}"
        return found[0]

    def pod(self, variation: str) -> dict[str, Any]:
        return self.one("Deployment", variation)["spec"]["template"]["spec"]


def ready_build(model: Model) -> str:
    return str(Build.objects.create(model=model, status=BuildStatus.READY, framework="python",
                                    source_name="model.tar.gz").build_id)


def two_variation_spec(model: Model, **default_fields: Any) -> DeploySpec:
    return validate_spec(model, {"variations": [
        {"name": "default", "build_id": ready_build(model), "instance_type": "medium", "replicas": 2,
         "traffic_percent": 80, "deploy_timeout_min": 10, "iam_role_arn": "arn:aws:iam::123456789012:role/iris",
         "env": [{"name": "FEATURE_URL", "value": "http://features:8080"},
                 {"name": "API_TOKEN", "value": SECRET_TOKEN, "secret": True}], **default_fields},
        {"name": "challenger", "build_id": ready_build(model), "instance_type": "gpu.t4.xl", "replicas": 1,
         "traffic_percent": 20},
    ]})


@pytest.fixture
def on_kubernetes(settings: Any) -> None:
    settings.BERTH_BACKEND = "kubernetes"


@pytest.fixture
def deployed(iris_model: Model, on_kubernetes: None) -> Deployed:
    ensure_catalog()
    deployment = Deployment.objects.create(model=iris_model, environment="production")
    spec = two_variation_spec(iris_model)
    return Deployed(deployment, spec, manifests_for(deployment, spec, revision=1, cluster=CLUSTER))


def redeploy(deployed: Deployed, spec: DeploySpec, revision: int, cluster: ClusterSettings = CLUSTER) -> Deployed:
    return replace(deployed, spec=spec, objects=manifests_for(deployed.deployment, spec, revision, cluster))


def shipped_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every object in every YAML file under docker/kubernetes/, with its file."""
    return [(path, document) for path in sorted(SHIPPED.rglob("*.yaml"))
            for document in yaml.safe_load_all(path.read_text()) if document]
