"""Predict with a deployed model, the way Qwak users do:

    from berth import RealTimeClient
    client = RealTimeClient(model_id="iris")
    df = client.predict([{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}])

The gateway URL comes from `url=`, else BERTH_GATEWAY_URL, else the console's API (BERTH_URL and
BERTH_TOKEN) is asked once where the model's deployment serves. A deployment that requires an
endpoint key gets `endpoint_key=`, else BERTH_ENDPOINT_KEY, as `Authorization: Bearer <key>`
(docs/endpoint-keys.md). No Django imports here.
"""

from __future__ import annotations

import json
import os
from typing import Any, TypeAlias

import httpx
import pandas as pd

from berth.client import BerthClient, BerthError, error_message

FeatureVector: TypeAlias = "list[dict[str, Any]] | dict[str, Any] | pd.DataFrame"


class RealTimeClient:
    def __init__(self, model_id: str, variation: str | None = None, url: str | None = None,
                 timeout: float = 30.0, environment: str = "production", endpoint_key: str | None = None) -> None:
        self.model_id, self.variation, self.environment = model_id, variation, environment
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = endpoint_key or os.environ.get("BERTH_ENDPOINT_KEY", "")
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._gateway = (url or os.environ.get("BERTH_GATEWAY_URL") or "").rstrip("/")
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))

    @property
    def gateway_url(self) -> str:
        if not self._gateway:
            self._gateway = self._look_up_gateway()
        return self._gateway

    @property
    def predict_url(self) -> str:
        variation = f"/{self.variation}" if self.variation else ""
        return f"{self.gateway_url}/v1/models/{self.model_id}{variation}/predict"

    def predict(self, feature_vector: FeatureVector) -> pd.DataFrame:
        """Predictions for each row, as a DataFrame (one row per input row)."""
        body = _encode(feature_vector)
        try:
            response = self._http.post(self.predict_url, content=body, headers=self._headers)
        except httpx.TimeoutException:
            raise BerthError(f"{self.model_id} did not answer within {self.timeout} s.") from None
        except httpx.HTTPError as exc:
            raise BerthError(f"Cannot reach the {self.model_id} endpoint at {self.predict_url} ({exc}).") from None
        if response.status_code == 401:
            raise BerthError(f"{self.model_id}: {_served_error(response)} (pass endpoint_key= or set "
                             "BERTH_ENDPOINT_KEY)", 401)
        if not response.is_success:
            raise BerthError(f"{self.model_id}: {_served_error(response)}", response.status_code)
        return _decode(response.json())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RealTimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _look_up_gateway(self) -> str:
        from berth import deploy_client

        with BerthClient() as console:
            deployment = deploy_client.deployment_of(console, self.model_id, self.environment)
        if not deployment.get("gateway_url") or not deployment.get("endpoint_url"):
            raise BerthError(f"{self.model_id} is not serving ({deployment['status']}): "
                             f"{deployment.get('status_reason') or 'deploy a build first'}.")
        return str(deployment["gateway_url"]).rstrip("/")


def _served_error(response: httpx.Response) -> str:
    """What the gateway or the model server said, as it said it: their JSON errors are `{"error": …}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return " ".join(body["error"].split())
    return error_message(response, console=False)


def _encode(feature_vector: FeatureVector) -> bytes:
    if isinstance(feature_vector, pd.DataFrame):
        return feature_vector.to_json(orient="split", index=False).encode()
    if isinstance(feature_vector, dict):
        feature_vector = [feature_vector]
    if not isinstance(feature_vector, list):
        raise BerthError("predict() takes a record (dict), a list of records or a pandas DataFrame.")
    return json.dumps(feature_vector, default=_plain).encode()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode(payload: Any) -> pd.DataFrame:
    if isinstance(payload, dict) and "columns" in payload and "data" in payload:
        return pd.DataFrame(payload["data"], columns=payload["columns"])
    if isinstance(payload, dict) and "predictions" in payload:
        payload = payload["predictions"]
    if isinstance(payload, dict):
        payload = [payload]
    return pd.DataFrame(payload)
