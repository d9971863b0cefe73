"""A key's last use, learnt from the gateways: they count uses per key id on /metrics
(serving/endpoint_keys.py KeyUsage) and never write to the database.

So `last_used_at` is as fresh as the last scrape (every minute), and a use is missed only when
a gateway restarts between a use and the next scrape. Every gateway process is read, through the
runtime's client (`Backend.gateway_endpoints`, `Backend.http_client`: on Kubernetes each gateway pod
through the API server's pod proxy); a key's latest use among them wins.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deployments.backends.base import BackendError, get_backend
from deployments.models import Deployment, EndpointKey
from serving.endpoint_keys import LAST_USED_METRIC

log = logging.getLogger(__name__)
TIMEOUT_S = 2.0


def note_uses() -> int:
    """Update last_used_at of every key a serving gateway reports a later use of; how many changed."""
    deployments = (Deployment.objects.serving().exclude(gateway_url="")
                   .filter(model__project__endpoint_keys__revoked_at__isnull=True).distinct()
                   .select_related("model"))
    changed = 0
    backend = get_backend()
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as plain:
        client = backend.http_client() or plain
        for deployment in deployments:
            try:
                for url in backend.gateway_endpoints(deployment).values():
                    response = client.get(f"{url}/metrics", timeout=TIMEOUT_S)
                    response.raise_for_status()
                    changed += record(deployment.model.project_id, last_uses(response.text))
            except (httpx.HTTPError, BackendError) as exc:
                log.warning("can't read the metrics of deployment %s's gateway: %s", deployment.pk, exc)
    return changed


def last_uses(text: str) -> dict[int, datetime]:
    """Key id → last use, from a gateway's /metrics text."""
    uses: dict[int, datetime] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key_id = sample.labels.get("key_id", "")
                if sample.name == LAST_USED_METRIC and key_id.isdigit():
                    uses[int(key_id)] = datetime.fromtimestamp(sample.value, UTC)
    except ValueError as exc:
        log.warning("unreadable gateway metrics: %s", exc)
    return uses


def record(project_id: int, uses: dict[int, datetime]) -> int:
    """Only keys of `project_id` (a gateway reports its own project's), and only moving forward."""
    changed = 0
    for key_id, used_at in uses.items():
        stale = EndpointKey.objects.filter(pk=key_id, project_id=project_id)
        changed += stale.filter(last_used_at__isnull=True).update(last_used_at=used_at)
        changed += stale.filter(last_used_at__lt=used_at).update(last_used_at=used_at)
    return changed
