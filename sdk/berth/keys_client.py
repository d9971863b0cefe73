"""A project's endpoint keys (`/api/v1/projects/<slug>/endpoint-keys/`, docs/endpoint-keys.md).

    from berth.client import BerthClient
    from berth import keys_client as keys
    client = BerthClient()                              # BERTH_URL and BERTH_TOKEN
    created = keys.create(client, "fraud", "billing service", expires_in="90d")
    created["key"]                                      # shown this once: store it now
"""

from __future__ import annotations

from typing import Any

from berth.client import BerthClient


def _path(project: str, rest: str = "") -> str:
    return f"/api/v1/projects/{project}/endpoint-keys/{rest}"


def listed(client: BerthClient, project: str) -> list[dict[str, Any]]:
    """Every key of the project, the newest first, revoked ones included."""
    return list(client._pages(_path(project)))


def create(client: BerthClient, project: str, name: str, expires_in: str = "never") -> dict[str, Any]:
    """A new key (deployer role); its value is in `key`, and only in this answer."""
    return client._request("POST", _path(project), json={"name": name, "expires_in": expires_in})


def revoke(client: BerthClient, project: str, key_id: int) -> None:
    """Revoke a key (deployer role); gateways refuse it within seconds."""
    client._request("DELETE", _path(project, f"{key_id}/"))
