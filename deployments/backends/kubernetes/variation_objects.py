"""A variation's Service, Secret, and when needed its ServiceAccount and NetworkPolicy.

They share the variation's name; the Deployment (variation_deployment.py) refers to them by it.
The Secret holds the decrypted values of the secret env vars and the build's artifact token;
it exists even with no secret env var, since the init container always reads the token.
"""

from __future__ import annotations

import base64

from deployments.backends.kubernetes import labels
from deployments.backends.kubernetes.inputs import (
    CONSOLE_WEB_PORT,
    SERVICE_PORT,
    ClusterSettings,
    Manifest,
    Target,
    VariationInput,
)
from deployments.backends.kubernetes.names import variation_name
from deployments.rollouts.spec import VariationSpec

# User env names are [A-Za-z_][A-Za-z0-9_]*: a key with '-' can never be one of theirs.
ARTIFACT_TOKEN_KEY = "berth-artifact-token"  # noqa: S105 - the key's name, not a secret
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
GCP_KEY_FILE = "key.json"  # the key a service-account key Secret must hold (docs/kubernetes.md)


def needs_service_account(spec: VariationSpec) -> bool:
    return bool(spec.iam_role_arn or spec.service_account_key_secret_name)


def variation_service(target: Target, namespace: str, variation: VariationInput) -> Manifest:
    """Where the gateway reaches the variation's ready pods (port 80 → the server's 8080)."""
    name = variation.spec.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": variation_name(target, name), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.MODEL_SERVER, name)},
        "spec": {
            "type": "ClusterIP",
            "selector": labels.pod_selector(target, labels.MODEL_SERVER, name),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def variation_secret(target: Target, namespace: str, variation: VariationInput) -> Manifest:
    """Secret env values, decrypted, as `data` (base64), and the artifact token."""
    values = {ARTIFACT_TOKEN_KEY: variation.artifact_token}
    values.update({item.name: variation.secret_values[item.name] for item in variation.spec.env if item.secret})
    name = variation.spec.name
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": variation_name(target, name), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.MODEL_SERVER, name)},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(values.items())},
    }


def variation_service_account(target: Target, namespace: str, variation: VariationInput) -> Manifest | None:
    """The pods' identity when they reach cloud services: an IAM role through IRSA's annotation, or
    (Google Cloud) a key the pod mounts from the Secret the variation names. None otherwise."""
    spec = variation.spec
    if not needs_service_account(spec):
        return None
    metadata: dict[str, object] = {"name": variation_name(target, spec.name), "namespace": namespace,
                                   "labels": labels.object_labels(target, labels.MODEL_SERVER, spec.name)}
    if spec.iam_role_arn:
        metadata["annotations"] = {IRSA_ANNOTATION: spec.iam_role_arn}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata,
            "automountServiceAccountToken": False}



def variation_network_policy(target: Target, namespace: str, variation: VariationInput,
                             cluster: ClusterSettings) -> Manifest | None:
    """With outbound network off (the default), the pods may open connections to two places only:
    the cluster's DNS, and the console's web pods, where the init container fetches the build.
    None when the variation may reach other hosts. Enforced by the cluster's network plugin, when
    it enforces NetworkPolicy at all (docs/kubernetes.md)."""
    spec = variation.spec
    if spec.outbound_network:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": variation_name(target, spec.name), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.MODEL_SERVER, spec.name)},
        "spec": {
            "podSelector": {"matchLabels": labels.pod_selector(target, labels.MODEL_SERVER, spec.name)},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.console_namespace}},
                         "podSelector": {"matchLabels": labels.CONSOLE_WEB}}],
                 "ports": [{"protocol": "TCP", "port": CONSOLE_WEB_PORT}]},
            ],
        },
    }
