"""The labels on every object Berth creates, and the selectors that find them again.

`app.kubernetes.io/*` are Kubernetes' recommended labels (what tools and dashboards group by);
`berth.dev/*` say which project, model, deployment, variation and revision an object belongs
to. `berth.dev/deployment` holds the deployment's primary key, the one value that is unique
whatever the names trim to: removal selects by it, so nothing of another deployment is touched.

A pod template carries only labels that change when its pods should be replaced: never the
revision (a revision that only moves traffic or replicas must not restart anything).
"""

from __future__ import annotations

from deployments.backends.kubernetes.inputs import Target
from deployments.backends.kubernetes.names import label_value

MANAGED_BY = "berth"
GATEWAY = "gateway"
MODEL_SERVER = "model-server"
DEPLOYMENT_LABEL = "berth.dev/deployment"
VARIATION_LABEL = "berth.dev/variation"
COMPONENT_LABEL = "app.kubernetes.io/component"
RUNTIME_KEY_LABEL = "berth.dev/runtime-key"
# The console's web pods, as docker/kubernetes/40-web.yaml labels them.
CONSOLE_WEB = {"app.kubernetes.io/name": "berth-console", "app.kubernetes.io/component": "web"}


def instance(target: Target) -> str:
    return label_value(f"{target.model_id}-{target.environment}")


def deployment_selector(target: Target) -> dict[str, str]:
    """Selects every object of the deployment: what removal deletes."""
    return {"app.kubernetes.io/managed-by": MANAGED_BY, DEPLOYMENT_LABEL: str(target.deployment_pk)}


def selector_string(selector: dict[str, str]) -> str:
    """The label selector as the API's `labelSelector` query parameter takes it."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def pod_selector(target: Target, component: str, variation: str = "") -> dict[str, str]:
    """A Deployment's (immutable) selector and its Service's: stable for the deployment's life."""
    labels = {**deployment_selector(target), COMPONENT_LABEL: component}
    if variation:
        labels[VARIATION_LABEL] = variation
    return labels


def object_labels(target: Target, component: str, variation: str = "") -> dict[str, str]:
    """The labels on an object's own metadata."""
    labels = {
        "app.kubernetes.io/name": f"berth-{component}",
        "app.kubernetes.io/instance": instance(target),
        COMPONENT_LABEL: component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "berth",
        "berth.dev/project": label_value(target.project),
        "berth.dev/model": label_value(target.model_id),
        DEPLOYMENT_LABEL: str(target.deployment_pk),
        "berth.dev/revision": str(target.revision),
    }
    if variation:
        labels[VARIATION_LABEL] = variation
    return labels


def pod_labels(target: Target, component: str, variation: str = "", runtime_key: str = "") -> dict[str, str]:
    """A pod template's labels: the object's, less the revision, plus what the pods run."""
    labels = object_labels(target, component, variation)
    del labels["berth.dev/revision"]
    if runtime_key:
        labels[RUNTIME_KEY_LABEL] = runtime_key
    return labels
