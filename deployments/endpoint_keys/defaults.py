"""Whether a deployment requires an endpoint key when its deployer does not say: decided here only."""

from __future__ import annotations

from django.conf import settings


def require_key_default() -> bool:
    """On for deployments exposed through an Ingress (the Kubernetes runtime with
    BERTH_INGRESS_HOST_PATTERN set makes one per gateway), else BERTH_ENDPOINT_KEYS_DEFAULT."""
    if settings.BERTH_BACKEND == "kubernetes" and settings.BERTH_INGRESS_HOST_PATTERN:
        return True
    return bool(settings.BERTH_ENDPOINT_KEYS_DEFAULT)
