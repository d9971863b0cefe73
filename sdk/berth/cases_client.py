"""Saved cases of a deployment: requests with the answer each must get (`/api/v1/deployments/<id>/cases/`).

    from berth.client import BerthClient
    from berth import cases_client as cases
    client = BerthClient()                      # BERTH_URL and BERTH_TOKEN
    cases.save(client, 7, "setosa", [{"sepal_length": 5.1, …}], [{"species": 0}])
    run = cases.run(client, 7)                  # {"ran", "passed", "failed", "results": […]}
"""

from __future__ import annotations

from typing import Any

from berth.client import BerthClient


def _path(deployment_id: int, rest: str = "") -> str:
    return f"/api/v1/deployments/{deployment_id}/cases/{rest}"


def saved(client: BerthClient, deployment_id: int) -> list[dict[str, Any]]:
    """Every saved case of the deployment, by name."""
    return client._request("GET", _path(deployment_id))


def save(client: BerthClient, deployment_id: int, name: str, request: Any, expected: Any,
         tolerance: float = 0.0) -> dict[str, Any]:
    """Save a case (deployer role): `request` is sent as the body; numbers may differ by `tolerance`."""
    body = {"name": name, "request": request, "expected": expected, "tolerance": tolerance}
    return client._request("POST", _path(deployment_id), json=body)


def delete(client: BerthClient, deployment_id: int, case_id: int) -> None:
    client._request("DELETE", _path(deployment_id, f"{case_id}/"))


def run(client: BerthClient, deployment_id: int, variation: str = "") -> dict[str, Any]:
    """Send every case through the gateway (one variation by name, or any): pass or fail per case."""
    return client._request("POST", _path(deployment_id, "run/"), json={"variation": variation})
