"""Every object of one deployment revision, in the order they can be applied.

`build_manifests` is pure: plain inputs in (inputs.py), dicts out, shaped for server-side apply
(apiVersion, kind, metadata with name and namespace, then the rest). `manifests_for` gathers
those inputs for a real Deployment and DeploySpec: instance types from the catalog, secret env
values decrypted, a token per build, the console's settings.

Order: what pods refer to (ServiceAccounts, Secrets, the routes ConfigMap, the gateway's keys
Secret when the spec requires endpoint keys) before the pods'
Deployments, then Services, the Ingress and NetworkPolicies, so a first apply never starts a
pod that waits for a missing object.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from deployments.backends.base import BackendError
from deployments.backends.kubernetes.artifacts import artifact_token
from deployments.backends.kubernetes.gateway_objects import (
    gateway_config_map,
    gateway_deployment,
    gateway_ingress,
    gateway_keys_secret,
    gateway_service,
)
from deployments.backends.kubernetes.inputs import ClusterSettings, InstanceShape, Manifest, Target, VariationInput
from deployments.backends.kubernetes.names import namespace_name
from deployments.backends.kubernetes.variation_deployment import variation_deployment
from deployments.backends.kubernetes.variation_objects import (
    variation_network_policy,
    variation_secret,
    variation_service,
    variation_service_account,
)

if TYPE_CHECKING:
    from deployments.models import Deployment
    from deployments.rollouts.spec import DeploySpec, VariationSpec


def build_manifests(target: Target, variations: Sequence[VariationInput], cluster: ClusterSettings,
                    endpoint_keys: Sequence[dict[str, Any]] | None = None) -> list[Manifest]:
    """`endpoint_keys`: the accepted keys when the spec requires one (None: predict calls need none)."""
    namespace = namespace_name(cluster.namespace_pattern, target.project, target.environment)
    accounts = [variation_service_account(target, namespace, v) for v in variations]
    objects: list[Manifest | None] = [
        *accounts,
        *(variation_secret(target, namespace, v) for v in variations),
        gateway_config_map(target, namespace, variations),
        None if endpoint_keys is None else gateway_keys_secret(target, namespace, endpoint_keys),
        *(variation_deployment(target, namespace, v, cluster) for v in variations),
        gateway_deployment(target, namespace, cluster, require_key=endpoint_keys is not None),
        *(variation_service(target, namespace, v) for v in variations),
        gateway_service(target, namespace),
        gateway_ingress(target, namespace, cluster),
        *(variation_network_policy(target, namespace, v, cluster) for v in variations),
    ]
    return [item for item in objects if item is not None]


def manifests_for(deployment: Deployment, spec: DeploySpec, revision: int,
                  cluster: ClusterSettings | None = None) -> list[Manifest]:
    """The objects of `deployment` at `revision` running `spec`; BackendError when the spec names an
    instance type the catalog no longer has, or a secret the configured keys cannot decrypt.
    The endpoint keys are read now: a caller that writes them holds keys_lock (the backend's route)."""
    from deployments.endpoint_keys.gateway_config import accepted_keys

    model = deployment.model
    target = Target(deployment.pk, model.project.slug, model.model_id, deployment.environment, revision)
    shapes = _shapes({v.instance_type for v in spec.variations})
    return build_manifests(target, [_variation_input(v, shapes) for v in spec.variations],
                           cluster or ClusterSettings.from_settings(),
                           accepted_keys(model.project_id) if spec.require_key else None)


def _shapes(names: set[str]) -> dict[str, InstanceShape]:
    from deployments.models import InstanceType

    found = {t.name: InstanceShape(t.name, Decimal(t.cpu), t.memory_gb, t.gpu_count, t.gpu_kind)
             for t in InstanceType.objects.filter(name__in=names)}
    missing = sorted(names - found.keys())
    if missing:
        raise BackendError(f"Instance type {', '.join(missing)} is not in the catalog any more; "
                           "deploy again with one that is.")
    return found


def _variation_input(variation: VariationSpec, shapes: dict[str, InstanceShape]) -> VariationInput:
    from console.crypto import decrypt

    secrets: dict[str, str] = {}
    for item in variation.env:
        if item.secret:
            try:
                secrets[item.name] = decrypt(item.value)
            except ValueError:
                raise BackendError(f"The secret {item.name} of variation {variation.name} cannot be decrypted "
                                   "with BERTH_ENCRYPTION_KEYS; set it again.") from None
    return VariationInput(variation, shapes[variation.instance_type], secrets, artifact_token(variation.build_id))
