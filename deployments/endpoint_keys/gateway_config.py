"""What a gateway is told about endpoint keys: the hashes it accepts, with their expiry.

Two writers put keys into a deployment's routes: the backend's route() (every rollout) and the
refresh after a key is revoked. Both read the keys and write the routes holding
`keys_lock(deployment)` until the gateway serves what they wrote, so a route() that read the
keys before a revocation cannot write its stale list after the refresh has written the new one,
and neither replaces the other's routes while it waits for the gateway to load them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from console.locks import held_lock
from deployments.backends.base import BackendError
from deployments.models import EndpointKey

LOCK_WAIT_S = 90  # a holder writes one file and waits at most 30 s for the gateway to load it (or start)


def accepted_keys(project_id: int) -> list[dict[str, Any]]:
    """The routes file's `endpoint_keys` (serving/endpoint_keys.py reads it): every key not revoked,
    and the console's own (its Prediction tab and saved cases call through the gateway too)."""
    keys = [{"id": str(pk), "sha256": key_hash, "expires_at": expires_at.timestamp() if expires_at else None}
            for pk, key_hash, expires_at in EndpointKey.objects.filter(project_id=project_id).accepted()
            .order_by("pk").values_list("pk", "key_hash", "expires_at")]
    own = hashlib.sha256(console_key(project_id).encode()).hexdigest()
    return [*keys, {"id": "console", "sha256": own, "expires_at": None}]


def console_key(project_id: int) -> str:
    """The key the console itself sends to a project's gateways: derived from SECRET_KEY, so it is
    stored nowhere, differs per project, and changes when the secret key does (at the next route)."""
    mac = hmac.new(settings.SECRET_KEY.encode(), f"berth-endpoint-key:{project_id}".encode(), hashlib.sha256)
    return "bek_console_" + mac.hexdigest()


def console_key_header(project_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {console_key(project_id)}"}


@contextmanager
def keys_lock(deployment_pk: int) -> Iterator[None]:
    """Held while a deployment's accepted keys are read and written into its routes."""
    with held_lock(f"endpoint-keys:{deployment_pk}", wait_s=LOCK_WAIT_S) as acquired:
        if not acquired:
            raise BackendError(f"Deployment {deployment_pk}'s gateway routes stayed locked for {LOCK_WAIT_S} s "
                               "by another update of its endpoint keys; try again.")
        yield
