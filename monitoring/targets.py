"""What to scrape for a deployment, and how to reach it: each replica's `/metrics` endpoint, by
variation, and each of its gateway processes'.

For the local runtime this reads the replicas' launch records (the files the local backend
writes, through its own read-only accessor) without asking supervisord or probing readiness:
a replica that is not running simply fails its scrape. How often each replica's process was
started (its starts file) tells the collector of a restart even when the restarted process
has already counted past its predecessor's figures. Its gateway's `/metrics`
(serving/gateway_metrics.py) is at the deployment's stored `gateway_url`, written by the rollout
engine when it started the gateway. All of it is plain HTTP or a Unix socket: the scraper's own
shared client reads it.

Other runtimes answer through `Backend.endpoints()` and `Backend.gateway_endpoints()`, and say with
`Backend.http_client()` how they are reached: on Kubernetes every replica and gateway pod is read
through the API server's pod proxy with the cluster's credentials (deployments/backends/kubernetes/
proxy.py); a replica's container restarts count as its starts. Each gateway process is a target of
its own (`gateway_key`), so its increases survive its restarts as a replica's do; the deployment's
client traffic is their sum (monitoring.gateway_stats). Nothing here changes the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from monitoring.gateway_stats import gateway_key

if TYPE_CHECKING:
    import httpx

    from deployments.models import Deployment


@dataclass(frozen=True)
class Target:
    variation: str
    replica: str    # unique within the deployment; the key its previous scrape is kept under
    endpoint: str   # `http://host:port`, `unix:/path/server.sock` (serving/endpoints.py) or a pod proxy URL
    starts: int = 0  # how often its process was started, when the runtime says (0: it does not)
    client: httpx.Client | None = field(default=None, compare=False, repr=False)  # None: the scraper's plain one


@dataclass(frozen=True)
class Targets:
    replicas: list[Target]
    gateways: list[Target]  # each gateway process; `variation` "", `replica` a gateway_key


def targets_of(deployment: Deployment) -> Targets:
    if settings.BERTH_BACKEND == "local":
        gateway = [Target("", gateway_key(""), deployment.gateway_url)] if deployment.gateway_url else []
        return Targets(_local_targets(deployment.pk), gateway)
    from deployments.backends.base import get_backend

    backend = get_backend()
    client = backend.http_client()
    return Targets([Target(e.variation, e.replica, e.url, e.restarts, client) for e in backend.endpoints(deployment)],
                   [Target("", gateway_key(name), url, 0, client)
                    for name, url in sorted(backend.gateway_endpoints(deployment).items())])


def _local_targets(deployment_id: int) -> list[Target]:
    from deployments.backends.local_files import DeploymentFiles

    files = DeploymentFiles(Path(settings.BERTH_RUNTIME_DIR), deployment_id)
    return [Target(r.id.variation, r.id.name, r.endpoint, files.starts(r.id)) for r in files.records()]
