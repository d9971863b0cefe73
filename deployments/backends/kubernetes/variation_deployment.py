"""A variation's `apps/v1` Deployment: its pods run the build on the model-server image.

The pod: an init container fetches the build from the console into an emptyDir (one token,
good for that build only), then the model server serves it on port 8080. Resources, GPU and
scheduling come from the instance type; env vars from the spec, secret ones only as
`secretKeyRef` into the variation's Secret, so no secret value is ever in this object.

Timing follows the variation's deploy timeout: the startup probe gives a new pod that long to
become ready, and `progressDeadlineSeconds` marks the rollout failed (`ProgressDeadlineExceeded`)
after it. `maxUnavailable: 0` keeps every old pod serving until a new one is ready; the grace
period covers a pause for Services to drop the pod, then the server's own drain.
"""

from __future__ import annotations

from typing import Any

from deployments.backends.kubernetes import labels
from deployments.backends.kubernetes.artifacts import artifact_url
from deployments.backends.kubernetes.inputs import (
    CONTAINER_PORT,
    PRESTOP_DELAY_S,
    ClusterSettings,
    Manifest,
    Target,
    VariationInput,
)
from deployments.backends.kubernetes.names import variation_name
from deployments.backends.kubernetes.variation_objects import ARTIFACT_TOKEN_KEY, GCP_KEY_FILE, needs_service_account

BUILD_MOUNT = "/var/lib/berth"
BUILD_DIR = f"{BUILD_MOUNT}/build"
GCP_KEY_MOUNT = "/var/run/secrets/berth/gcp"
FETCH_SCRIPT = "/opt/berth/fetch_build.py"  # docker/model-server.Dockerfile puts it there
STARTUP_PERIOD_S = 5
GPU_RESOURCE = "nvidia.com/gpu"
RUN_AS_USER = 10001  # the images' `berth` user


def variation_deployment(target: Target, namespace: str, variation: VariationInput,
                         cluster: ClusterSettings) -> Manifest:
    spec = variation.spec
    name = variation_name(target, spec.name)
    component = labels.MODEL_SERVER
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": labels.object_labels(target, component, spec.name)},
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": variation.deploy_timeout_s(cluster),
            "selector": {"matchLabels": labels.pod_selector(target, component, spec.name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "template": {
                "metadata": {
                    "labels": labels.pod_labels(target, component, spec.name, spec.runtime_key),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(CONTAINER_PORT),
                                    "prometheus.io/path": "/metrics"},
                },
                "spec": _pod_spec(target, name, variation, cluster),
            },
        },
    }


def _pod_spec(target: Target, name: str, variation: VariationInput, cluster: ClusterSettings) -> dict[str, Any]:
    spec = variation.spec
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,  # model code never gets a token for the Kubernetes API
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": cluster.termination_grace_s,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER,
                            "fsGroup": RUN_AS_USER, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [_fetch_container(name, variation, cluster)],
        "containers": [_server_container(target, name, variation, cluster)],
        "volumes": _volumes(variation),
    }
    if needs_service_account(spec):
        pod["serviceAccountName"] = name
    if variation.shape.gpu_count:
        if variation.shape.gpu_kind:
            pod["nodeSelector"] = {cluster.gpu_node_label: variation.shape.gpu_kind}
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return pod


def _fetch_container(secret_name: str, variation: VariationInput, cluster: ClusterSettings) -> dict[str, Any]:
    """Downloads and unpacks the build before the server starts; a failure shows as Init:Error."""
    return {
        "name": "fetch-build",
        "image": cluster.model_server_image,
        "command": ["python", FETCH_SCRIPT],
        "args": ["--dest", BUILD_DIR],
        "env": [
            {"name": "BERTH_ARTIFACT_URL", "value": artifact_url(cluster.console_url, variation.spec.build_id)},
            {"name": "BERTH_ARTIFACT_TOKEN",
             "valueFrom": {"secretKeyRef": {"name": secret_name, "key": ARTIFACT_TOKEN_KEY}}},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "build", "mountPath": BUILD_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir in the pod
    }


def _server_container(target: Target, secret_name: str, variation: VariationInput, cluster: ClusterSettings) -> dict[str, Any]:
    spec = variation.spec
    health = {"port": "http", "scheme": "HTTP"}
    mounts = [{"name": "build", "mountPath": BUILD_MOUNT, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    if spec.service_account_key_secret_name:
        mounts.append({"name": "gcp-key", "mountPath": GCP_KEY_MOUNT, "readOnly": True})
    return {
        "name": "model-server",
        "image": cluster.model_server_image,
        "command": ["python", "-m", "serving.server"],
        "args": ["--build", BUILD_DIR, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT),  # noqa: S104 - inside its pod
                 "--workers", str(spec.server_workers), "--timeout-ms", str(spec.request_timeout_ms),
                 "--max-batch-size", str(spec.max_batch_size),
                 "--graceful-timeout-s", str(cluster.drain_timeout_s)],
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": _env(target, secret_name, variation),
        "resources": _resources(variation),
        "startupProbe": {"httpGet": {"path": "/health/ready", **health}, "periodSeconds": STARTUP_PERIOD_S,
                         "timeoutSeconds": 3,
                         "failureThreshold": variation.startup_failures(cluster, STARTUP_PERIOD_S)},
        "readinessProbe": {"httpGet": {"path": "/health/ready", **health}, "periodSeconds": 5,
                           "timeoutSeconds": 3, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/health/live", **health}, "periodSeconds": 10,
                          "timeoutSeconds": 5, "failureThreshold": 3},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_DELAY_S}}},
        "securityContext": _container_security(),
        "volumeMounts": mounts,
    }


def _env(target: Target, secret_name: str, variation: VariationInput) -> list[dict[str, Any]]:
    """Berth's own variables, then the spec's in its order: plain values escaped, secret ones by reference."""
    spec = variation.spec
    own = {"BERTH_MODEL_ID": target.model_id, "BERTH_VARIATION": spec.name, "BERTH_BUILD_ID": spec.build_id,
           "BERTH_INSTANCE_TYPE": spec.instance_type, "BERTH_DAEMON_MODE": "true" if spec.daemon_mode else "false",
           "HOME": "/tmp"}  # noqa: S108 - the pod's own emptyDir
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in own.items() if value]
    if spec.iam_role_arn:
        env.append({"name": "BERTH_IAM_ROLE_ARN", "value": spec.iam_role_arn})
    if spec.service_account_key_secret_name:
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{GCP_KEY_MOUNT}/{GCP_KEY_FILE}"})
    for item in spec.env:
        if item.secret:
            env.append({"name": item.name,
                        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": item.name}}})
        else:
            env.append({"name": item.name, "value": literal(item.value)})
    return env


def literal(value: str) -> str:
    """`value` as Kubernetes passes it on unchanged: it expands `$(NAME)` in env values and reads
    `$$` as `$`, so every `$` is doubled."""
    return value.replace("$", "$$")


def _resources(variation: VariationInput) -> dict[str, Any]:
    """Requests equal limits (Guaranteed QoS): a replica gets what its instance type says, always."""
    shape = variation.shape
    amounts: dict[str, Any] = {"cpu": shape.cpu_quantity, "memory": shape.memory_quantity}
    resources: dict[str, Any] = {"requests": dict(amounts), "limits": dict(amounts)}
    if shape.gpu_count:
        resources["requests"][GPU_RESOURCE] = str(shape.gpu_count)
        resources["limits"][GPU_RESOURCE] = str(shape.gpu_count)
    return resources


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}


def _volumes(variation: VariationInput) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [{"name": "build", "emptyDir": {}},
                                     {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    if variation.spec.service_account_key_secret_name:
        volumes.append({"name": "gcp-key", "secret": {"secretName": variation.spec.service_account_key_secret_name}})
    return volumes
