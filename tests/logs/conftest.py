"""Log files as the local runtime leaves them (logs/<source>.log and rotated .log.N), written by the test.

The replica processes themselves are in tests/logs/test_logs_real_replica.py; here the test writes
the lines a model server would, into the same files the backend reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.backends.local import LocalBackend
from deployments.models import Deployment, Model, RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_CLASSIFIER
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.runtime import ready_build

# An iris model that prints while it predicts: its line carries the request id (serving.model_output).
PRINTS = IRIS_CLASSIFIER.replace(
    "        return pd.DataFrame(data=self._model.predict(df), columns=['species'])",
    "        print(f'scoring {len(df)} rows')\n"
    "        return pd.DataFrame(data=self._model.predict(df), columns=['species'])")
REPLICA = "default-3f9a1c2e-0"
OTHER_REPLICA = "default-3f9a1c2e-1"
CHALLENGER = "challenger-0a1b2c3d-0"


def log_path(deployment: Deployment, source: str, rotated: int = 0) -> Path:
    path = LocalBackend.from_settings().files(deployment).log_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + (f".{rotated}" if rotated else ""))


def json_line(ts: str, event: str, level: str = "info", **fields: Any) -> str:
    """A line as serving/logs.py writes it."""
    return json.dumps({"ts": ts, "level": level, "event": event, "pid": 41, **fields})


def request_line(ts: str, request_id: str, status: int = 200) -> str:
    return json_line(ts, "request", request_id=request_id, method="POST", path="/v1/predict", status=status,
                     latency_ms=3.1)


def write(deployment: Deployment, source: str, *lines: str, rotated: int = 0) -> Path:
    """Append whole lines to a source's log (or its rotated file number `rotated`)."""
    path = log_path(deployment, source, rotated)
    with path.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))


def deployed_printing_model(model: Model, user: Any) -> Iterator[Deployment]:
    """PRINTS deployed for real (needs the supervisord and celery_worker fixtures); removed afterwards."""
    from deployments.backends.base import get_backend
    from deployments.models.instance_type import ensure_catalog

    assert PRINTS != IRIS_CLASSIFIER
    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    rollout = wait_for_rollout(deploy(model, spec(ready_build(model, PRINTS)), user))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    yield rollout.deployment
    get_backend().delete(rollout.deployment)
