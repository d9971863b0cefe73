"""Everything the manifest functions read, as plain values: no database, no settings module.

`manifests.manifests_for` fills these from a Deployment, its DeploySpec and the console's
settings; tests and `example.py` fill them by hand. Keeping them plain is what makes the
manifests pure functions: the same inputs always give the same objects, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployments.rollouts.spec import VariationSpec

# The model server's and the gateway's port inside their pods; Services answer on 80.
CONTAINER_PORT = 8080
SERVICE_PORT = 80
CONSOLE_WEB_PORT = 8000  # the console's web container (docker/kubernetes/40-web.yaml)
PRESTOP_DELAY_S = 5   # a terminating pod keeps serving while Services and the gateway drop it


@dataclass(frozen=True)
class ClusterSettings:
    """The console's Kubernetes settings (docs/kubernetes.md, "Settings")."""

    model_server_image: str = "berth/model-server:latest"     # BERTH_MODEL_SERVER_IMAGE
    namespace_pattern: str = "berth-{project}"                # BERTH_K8S_NAMESPACE_PATTERN
    console_url: str = "http://berth-web.berth.svc"           # BERTH_CONSOLE_INTERNAL_URL
    ingress_class: str = ""                                   # BERTH_INGRESS_CLASS
    ingress_host_pattern: str = ""                            # BERTH_INGRESS_HOST_PATTERN
    gpu_node_label: str = "cloud.google.com/gke-accelerator"  # BERTH_K8S_GPU_NODE_LABEL
    gateway_replicas: int = 2                                 # BERTH_K8S_GATEWAY_REPLICAS
    drain_timeout_s: int = 30                                 # BERTH_DRAIN_TIMEOUT_S
    deploy_timeout_cap_s: int = 0                             # BERTH_DEPLOY_TIMEOUT_CAP_S (0: none)
    console_namespace: str = "berth"                          # BERTH_K8S_CONSOLE_NAMESPACE

    @classmethod
    def from_settings(cls) -> ClusterSettings:
        from django.conf import settings

        return cls(settings.BERTH_MODEL_SERVER_IMAGE, settings.BERTH_K8S_NAMESPACE_PATTERN,
                   settings.BERTH_CONSOLE_INTERNAL_URL, settings.BERTH_INGRESS_CLASS,
                   settings.BERTH_INGRESS_HOST_PATTERN, settings.BERTH_K8S_GPU_NODE_LABEL,
                   settings.BERTH_K8S_GATEWAY_REPLICAS, settings.BERTH_DRAIN_TIMEOUT_S,
                   settings.BERTH_DEPLOY_TIMEOUT_CAP_S, settings.BERTH_K8S_CONSOLE_NAMESPACE)

    @property
    def termination_grace_s(self) -> int:
        """Long enough for the pre-stop pause, then the server's own drain, with a margin."""
        return PRESTOP_DELAY_S + self.drain_timeout_s + 5


@dataclass(frozen=True)
class Target:
    """Which deployment the objects belong to, and the revision being applied."""

    deployment_pk: int
    project: str
    model_id: str
    environment: str
    revision: int


@dataclass(frozen=True)
class InstanceShape:
    """An instance type's size, as Kubernetes requests it."""

    name: str
    cpu: Decimal
    memory_gb: int
    gpu_count: int = 0
    gpu_kind: str = ""

    @property
    def cpu_quantity(self) -> str:
        """`4`, or `500m` for half a core: the form `kubectl` prints back."""
        cpu = Decimal(self.cpu)
        if cpu == cpu.to_integral_value():
            return str(int(cpu))
        return f"{int(cpu * 1000)}m"

    @property
    def memory_quantity(self) -> str:
        return f"{self.memory_gb}Gi"


@dataclass(frozen=True)
class VariationInput:
    """One variation of the spec with what its objects need beyond the spec itself."""

    spec: VariationSpec
    shape: InstanceShape
    secret_values: Mapping[str, str] = field(default_factory=dict)  # env name -> decrypted value
    artifact_token: str = ""  # lets the pod's init container fetch this build, and nothing else

    def deploy_timeout_s(self, cluster: ClusterSettings) -> int:
        """How long a new replica may take to become ready (capped like the rollout engine caps it)."""
        own = self.spec.deploy_timeout_min * 60
        return min(own, cluster.deploy_timeout_cap_s) if cluster.deploy_timeout_cap_s else own

    def startup_failures(self, cluster: ClusterSettings, period_s: int) -> int:
        return max(1, math.ceil(self.deploy_timeout_s(cluster) / period_s))


Manifest = dict[str, Any]
