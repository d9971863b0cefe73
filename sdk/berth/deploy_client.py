"""Deployment calls of Berth's REST API, on top of `BerthClient` (used by the CLI and RealTimeClient).

    from berth.client import BerthClient
    from berth import deploy_client as deployments
    with BerthClient() as client:
        rollout = deployments.deploy(client, "iris", {"build_id": "…", "replicas": 2})
        rollout = deployments.wait_for_rollout(client, rollout["id"])

No Django imports here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from berth.client import BerthClient, BerthError

FINISHED = ("succeeded", "failed", "rolled_back")


def deploy(client: BerthClient, model_id: str, variation: dict[str, Any], environment: str = "production"
           ) -> dict[str, Any]:
    """Deploy one variation; the deployment's other variations keep serving, fields left out keep their values."""
    body = {"variation": variation, "environment": environment}
    return client._request("POST", f"/api/v1/models/{model_id}/deploy/", json=body)


def deploy_spec(client: BerthClient, model_id: str, variations: list[dict[str, Any]],
                environment: str = "production") -> dict[str, Any]:
    """Deploy exactly these variations (replaces the deployment's spec)."""
    body = {"variations": variations, "environment": environment}
    return client._request("POST", f"/api/v1/models/{model_id}/deploy/", json=body)


def deployments(client: BerthClient, model_id: str | None = None, environment: str | None = None,
                status: str | None = None) -> list[dict[str, Any]]:
    params = {k: v for k, v in {"model_id": model_id, "environment": environment, "status": status}.items() if v}
    return list(client._pages("/api/v1/deployments/", params or None))


def deployment(client: BerthClient, deployment_id: int) -> dict[str, Any]:
    return client._request("GET", f"/api/v1/deployments/{deployment_id}/")


def deployment_of(client: BerthClient, model_id: str, environment: str = "production") -> dict[str, Any]:
    """The model's deployment in `environment`, in full (status from its replicas now)."""
    found = deployments(client, model_id=model_id, environment=environment)
    if not found:
        raise BerthError(f"Model {model_id} has no {environment} deployment; deploy it first with: "
                         f"berth models deploy realtime --model-id {model_id} --build-id <build>", 404)
    return deployment(client, found[0]["id"])


def scale(client: BerthClient, deployment_id: int, replicas: int, variation: str = "default") -> dict[str, Any]:
    return client._request("POST", f"/api/v1/deployments/{deployment_id}/scale/",
                           json={"variation": variation, "replicas": replicas})


def set_traffic(client: BerthClient, deployment_id: int, shares: dict[str, int]) -> dict[str, Any]:
    """Split the traffic between the serving variations, e.g. `{"default": 80, "challenger": 20}`."""
    return client._request("POST", f"/api/v1/deployments/{deployment_id}/traffic/", json={"traffic": shares})


def rollback(client: BerthClient, deployment_id: int, revision: int) -> dict[str, Any]:
    return client._request("POST", f"/api/v1/deployments/{deployment_id}/rollback/", json={"revision": revision})


def undeploy(client: BerthClient, deployment_id: int) -> dict[str, Any]:
    return client._request("POST", f"/api/v1/deployments/{deployment_id}/undeploy/", json={})


def rollouts(client: BerthClient, deployment_id: int) -> list[dict[str, Any]]:
    return list(client._pages(f"/api/v1/deployments/{deployment_id}/rollouts/"))


def rollout(client: BerthClient, rollout_id: int) -> dict[str, Any]:
    return client._request("GET", f"/api/v1/rollouts/{rollout_id}/")


def rollout_events(client: BerthClient, rollout_id: int, after: int | None = None) -> list[dict[str, Any]]:
    params = {"after": str(after)} if after else None
    return list(client._pages(f"/api/v1/rollouts/{rollout_id}/events/", params))


def wait_for_rollout(client: BerthClient, rollout_id: int, timeout_s: float = 1800, poll_s: float = 1.0,
                     on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Poll until the rollout finishes; `on_event` sees each new event once, in order."""
    deadline, last = time.monotonic() + timeout_s, 0
    while True:
        current = rollout(client, rollout_id)
        if on_event is not None:
            for event in rollout_events(client, rollout_id, last):
                last = max(last, event["id"])
                on_event(event)
        if current["status"] in FINISHED:
            return current
        if time.monotonic() > deadline:
            raise BerthError(f"Revision {current['revision']} is still {current['status']} after {timeout_s:.0f} s; "
                             f"follow it with: berth deployments status --model-id {current['model_id']}")
        time.sleep(poll_s)
