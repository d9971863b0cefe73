"""Readiness over HTTP: is a replica's model loaded, does a gateway serve a routing version.

A replica's endpoint is `http://host:port` or `unix:/path/server.sock` (serving/endpoints.py).
A running replica whose `/health/ready` fails is still starting for its first
STARTING_GRACE_S seconds (loading the model), then it is not ready.
"""

from __future__ import annotations

import os
import time

import httpx

from deployments.backends.base import ReplicaState
from serving import endpoints
from serving.endpoints import Endpoint, EndpointError

STARTING_GRACE_S = 60
LIVENESS_TIMEOUT_S = 2.0  # a gateway that takes longer to say it is alive is not serving either


def probe(client: httpx.Client, endpoint: str) -> str | None:
    """None when the replica at `endpoint` is ready, else what the readiness check saw.

    `client` reaches http: endpoints (sharing its connection pool across calls) and sets the
    timeout; a unix: endpoint gets a client of its own for this check, with the same timeout."""
    try:
        target = Endpoint.parse(endpoint)
    except EndpointError as exc:
        return str(exc)
    try:
        if target.uds is None:
            response = client.get(target.url("/health/ready"))
        else:
            with endpoints.client(target, timeout=client.timeout) as own:
                response = own.get(target.url("/health/ready"))
    except httpx.HTTPError as exc:
        if target.uds is not None and isinstance(exc, httpx.ConnectError) and not os.path.exists(target.uds):
            return f"ConnectError: no socket at {target.uds} (the server has not bound it, or removed it)"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if response.status_code == 200:
        return None
    return f"HTTP {response.status_code} {response.text[:200]}"


def running_state(error: str | None, uptime_s: int) -> tuple[ReplicaState, str]:
    """The state of a replica whose process runs, from its readiness check and how long it has run."""
    if error is None:
        return ReplicaState.READY, ""
    if uptime_s < STARTING_GRACE_S:
        return ReplicaState.STARTING, f"loading the model ({uptime_s} s so far)"
    return ReplicaState.NOT_READY, f"readiness check failing for {uptime_s} s: {error}"


def liveness(url: str, timeout_s: float = LIVENESS_TIMEOUT_S) -> str | None:
    """None when the server at `url` answers `GET /health/live` with 200, else what happened instead."""
    try:
        response = httpx.get(f"{url}/health/live", timeout=timeout_s)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def gateway_health(url: str) -> dict[str, object] | str:
    """The gateway's `/health/ready` body, or why there is none."""
    try:
        body = httpx.get(f"{url}/health/ready", timeout=1.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return body if isinstance(body, dict) else f"unexpected answer {body!r}"


def await_config(url: str, version: str, timeout_s: float = 30) -> dict[str, object] | str:
    """Wait until the gateway serves routing `version`: its health body, or what it did last."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        body = gateway_health(url)
        if isinstance(body, dict) and body.get("config_version") == version:
            return body
        last = f"serving config {body.get('config_version')}" if isinstance(body, dict) else body
        time.sleep(0.1)
    return last
