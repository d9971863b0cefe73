"""What to scrape for a deployment: each replica's `/metrics` endpoint, by variation, and its gateway's.

For the local runtime this reads the replicas' launch records (the files the local backend
writes, through its own read-only accessor) without asking supervisord or probing readiness:
a replica that is not running simply fails its scrape. How often each replica's process was
started (its starts file) tells the collector of a restart even when the restarted process
has already counted past its predecessor's figures. Other runtimes answer through
`Backend.endpoints()`. Nothing here changes the runtime.

The gateway's `/metrics` (serving/gateway_metrics.py) is at the deployment's stored
`gateway_url`, written by the rollout engine when it started the gateway; deployment-wide
requests, error rates and latency come from it when it answers (monitoring.gateway_stats).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from monitoring.gateway_stats import GATEWAY

if TYPE_CHECKING:
    from deployments.models import Deployment


@dataclass(frozen=True)
class Target:
    variation: str
    replica: str    # unique within the deployment; the key its previous scrape is kept under
    endpoint: str   # `http://host:port` or `unix:/path/server.sock` (serving/endpoints.py)
    starts: int = 0  # how often its process was started, when the runtime says (0: it does not)


def scrape_targets(deployment: Deployment) -> list[Target]:
    if settings.BERTH_BACKEND == "local":
        return _local_targets(deployment.pk)
    from deployments.backends.base import get_backend

    return [Target(e.variation, e.replica, e.url) for e in get_backend().endpoints(deployment)]


def gateway_target(deployment: Deployment) -> Target | None:
    """The deployment's gateway, when it has one; its `replica` is the reserved key GATEWAY."""
    if not deployment.gateway_url:
        return None
    return Target(variation="", replica=GATEWAY, endpoint=deployment.gateway_url)


def _local_targets(deployment_id: int) -> list[Target]:
    from deployments.backends.local_files import DeploymentFiles

    files = DeploymentFiles(Path(settings.BERTH_RUNTIME_DIR), deployment_id)
    return [Target(r.id.variation, r.id.name, r.endpoint, files.starts(r.id)) for r in files.records()]
