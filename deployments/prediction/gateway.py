"""The one place the console sends a test prediction to a deployment's gateway (httpx).

A test prediction only reads: it is a request like any client's, through the same gateway, and
changes nothing in the console but the caller's own history.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from deployments.endpoint_keys.gateway_config import console_key_header
from deployments.models import Deployment

MAX_BODY_BYTES = 8 * 1024 * 1024  # as ModelArts' test tab; the browser refuses larger before sending
MAX_BODY_LABEL = "8 MB"
EXTRA_TIMEOUT_S = 2.0  # on top of the variation's own request timeout, so the gateway's 504 arrives first
DEFAULT_TIMEOUT_MS = 1000


class PredictionInputError(ValueError):
    """What the user typed cannot be sent; the message says why and what to do."""


def parse_body(text: str) -> tuple[Any, bytes]:
    """The JSON value typed and the bytes to send, or PredictionInputError (empty, not JSON, too large)."""
    if not text.strip():
        raise PredictionInputError("Type a JSON request body first (for example the build's example input).")
    size = len(text.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise PredictionInputError(too_large(size))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PredictionInputError(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                                   "Nothing was sent.") from None
    return value, json.dumps(value).encode("utf-8")


def too_large(size: int) -> str:
    return (f"The request body is {size / 1024 / 1024:.1f} MB; the limit for a test prediction is {MAX_BODY_LABEL} "
            f"({MAX_BODY_BYTES:,} bytes). Nothing was sent.")


@dataclass(frozen=True)
class Answer:
    """What came back: an HTTP answer (status, body), or `error` when none did."""

    status: int | None
    body: str
    latency_ms: float | None
    served_by: str = ""
    request_id: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def message(self) -> str:
        """The words to show for a failed call: the gateway's or model's `error`, else why nothing answered."""
        if self.error:
            return self.error
        value = self.json
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            return value["error"]
        return self.body[:500]


def predict_url(deployment: Deployment, variation: str = "") -> str:
    return deployment.variation_predict_url(variation) if variation else deployment.predict_url


def timeout_s(deployment: Deployment, variation: str = "") -> float:
    """The variation's request timeout (the longest of them for "any variation") plus a little."""
    timeouts = [v.request_timeout_ms for v in deployment.variations.all() if not variation or v.name == variation]
    return max(timeouts or [DEFAULT_TIMEOUT_MS]) / 1000 + EXTRA_TIMEOUT_S


def send(deployment: Deployment, body: bytes, variation: str = "") -> Answer:
    """POST `body` to the gateway (one variation by name, or any) and say what came back, never raising."""
    if len(body) > MAX_BODY_BYTES:
        return Answer(None, "", None, error=too_large(len(body)))
    url = predict_url(deployment, variation)
    if not url:
        return Answer(None, "", None, error="This deployment has no gateway yet: deploy a revision first.")
    limit = timeout_s(deployment, variation)
    started = time.perf_counter()
    try:
        response = httpx.post(url, content=body, timeout=limit,
                              headers={"Content-Type": "application/json", "Accept": "application/json",
                                       **console_key_header(deployment.model.project_id)})
    except httpx.TimeoutException:
        return Answer(504, "", _ms(started), error=f"No answer within {limit:.1f} s (the variation's request "
                                                   "timeout plus a little); nothing came back.")
    except httpx.HTTPError as exc:
        return Answer(None, "", _ms(started), error=f"The gateway at {deployment.gateway_url} did not answer "
                                                    f"({type(exc).__name__}: {exc}). Is the deployment running?")
    return Answer(response.status_code, response.text, _ms(started),
                  served_by=response.headers.get("X-Berth-Variation", ""),
                  request_id=response.headers.get("X-Request-Id", ""))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
