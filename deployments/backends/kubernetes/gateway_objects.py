"""A deployment's gateway: its routing ConfigMap, keys Secret, Deployment, Service and optional Ingress.

The gateway is the same program the local runtime runs (`python -m serving.gateway`), reading
the same routes JSON (serving/gateway_routes.py). Here each variation's endpoint is its Service,
so the routes change only when the spec does, and the ConfigMap is mounted as a directory (never
with subPath): the kubelet swaps the file in place and the gateway reloads it when it changes,
so weights move without restarting any pod. Nothing in the pod template depends on the routes.

A deployment that requires endpoint keys (docs/endpoint-keys.md) also has a Secret of the same
name holding the accepted key hashes (`{"endpoint_keys": [...]}`, what serving/endpoint_keys.py
reads), mounted as a directory beside the routes and named to the gateway by `--keys-file`: what
authenticates callers stays out of ConfigMaps. The pod template says whether keys are required
(the flag and the mount come and go together), so turning keys on or off rolls the gateway's
pods, while a revoked key only changes the Secret's file, which the gateway reloads in place.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from deployments.backends.kubernetes import labels
from deployments.backends.kubernetes.inputs import (
    CONTAINER_PORT,
    PRESTOP_DELAY_S,
    SERVICE_PORT,
    ClusterSettings,
    Manifest,
    Target,
    VariationInput,
)
from deployments.backends.kubernetes.names import MAX_NAME, gateway_name, object_name, readable, variation_name

ROUTES_DIR = "/etc/berth/routes"
ROUTES_FILE = "routes.json"
KEYS_DIR = "/etc/berth/keys"
KEYS_FILE = "endpoint-keys.json"


def routes(target: Target, namespace: str, variations: Sequence[VariationInput]) -> dict[str, Any]:
    """The routing table, shaped as the local runtime writes gateway.json; its version is a hash of
    the rest, so the same spec gives the same version and the console can tell when a gateway took it."""
    body = {
        "model_id": target.model_id,
        "deployment": target.deployment_pk,
        "variations": [{"name": v.spec.name, "shadow": v.spec.shadow, "traffic_percent": v.spec.traffic_percent,
                        "timeout_ms": v.spec.request_timeout_ms,
                        "endpoints": [f"http://{variation_name(target, v.spec.name)}.{namespace}.svc:{SERVICE_PORT}"]}
                       for v in variations],
    }
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return {"version": version, **body}


def gateway_config_map(target: Target, namespace: str, variations: Sequence[VariationInput]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": gateway_name(target), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.GATEWAY)},
        "data": {ROUTES_FILE: json.dumps(routes(target, namespace, variations), indent=2, sort_keys=True)},
    }


def gateway_keys_secret(target: Target, namespace: str, endpoint_keys: Sequence[dict[str, Any]]) -> Manifest:
    """The key hashes the gateway accepts (deployments/endpoint_keys/gateway_config.py accepted_keys)."""
    text = json.dumps({"endpoint_keys": list(endpoint_keys)}, sort_keys=True, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": gateway_name(target), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.GATEWAY)},
        "type": "Opaque",
        "data": {KEYS_FILE: base64.b64encode(text.encode()).decode()},
    }


def gateway_deployment(target: Target, namespace: str, cluster: ClusterSettings,
                       require_key: bool = False) -> Manifest:
    name = gateway_name(target)
    keys_args = ["--keys-file", f"{KEYS_DIR}/{KEYS_FILE}"] if require_key else []
    keys_mount = [{"name": "keys", "mountPath": KEYS_DIR, "readOnly": True}] if require_key else []
    keys_volume = [{"name": "keys", "secret": {"secretName": name}}] if require_key else []
    health = {"port": "http", "scheme": "HTTP"}
    container = {
        "name": "gateway",
        "image": cluster.model_server_image,
        "command": ["python", "-m", "serving.gateway"],
        "args": ["--config", f"{ROUTES_DIR}/{ROUTES_FILE}", "--host", "0.0.0.0",  # noqa: S104 - inside its pod
                 "--port", str(CONTAINER_PORT), "--graceful-timeout-s", str(cluster.drain_timeout_s), *keys_args],
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/health/ready", **health}, "periodSeconds": 5,
                           "timeoutSeconds": 3, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/health/live", **health}, "periodSeconds": 10,
                          "timeoutSeconds": 5, "failureThreshold": 3},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_DELAY_S}}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "routes", "mountPath": ROUTES_DIR, "readOnly": True}, *keys_mount,
                         {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir in the pod
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels.object_labels(target, labels.GATEWAY)},
        "spec": {
            "replicas": cluster.gateway_replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels.pod_selector(target, labels.GATEWAY)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels.pod_labels(target, labels.GATEWAY),
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(CONTAINER_PORT),
                                             "prometheus.io/path": "/metrics"}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": cluster.termination_grace_s,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "routes", "configMap": {"name": name}}, *keys_volume,
                                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def gateway_service(target: Target, namespace: str) -> Manifest:
    """What clients in the cluster call: `http://<name>.<namespace>.svc/v1/models/<model_id>/predict`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": gateway_name(target), "namespace": namespace,
                     "labels": labels.object_labels(target, labels.GATEWAY)},
        "spec": {
            "type": "ClusterIP",
            "selector": labels.pod_selector(target, labels.GATEWAY),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress_host(target: Target, pattern: str) -> str:
    """BERTH_INGRESS_HOST_PATTERN filled in, e.g. `{model}-{environment}.models.example.com`; a part
    between dots longer than DNS allows (63) is cut and hashed like an object name."""
    host = pattern.format(model=readable(target.model_id), environment=target.environment,
                          project=readable(target.project))
    return ".".join(part if len(part) <= MAX_NAME else object_name(part) for part in host.split("."))


def gateway_ingress(target: Target, namespace: str, cluster: ClusterSettings) -> Manifest | None:
    """The gateway reached from outside the cluster; None unless BERTH_INGRESS_HOST_PATTERN is set."""
    if not cluster.ingress_host_pattern:
        return None
    name = gateway_name(target)
    spec: dict[str, Any] = {"rules": [{
        "host": ingress_host(target, cluster.ingress_host_pattern),
        "http": {"paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": name, "port": {"name": "http"}}}}]},
    }]}
    if cluster.ingress_class:
        spec = {"ingressClassName": cluster.ingress_class, **spec}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "labels": labels.object_labels(target, labels.GATEWAY)},
        "spec": spec,
    }
