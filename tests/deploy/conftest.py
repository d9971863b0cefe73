"""Deploy tests share one supervisord per session; every test leaves no process behind."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from deployments.models import Rollout


@pytest.fixture(autouse=True)
def no_leftover_processes(request: pytest.FixtureRequest, db: None) -> Iterator[None]:
    from deployments.models.instance_type import ensure_catalog

    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    yield
    if "supervisord" not in request.fixturenames:
        return
    from deployments.backends.base import get_backend
    from deployments.models import Deployment

    backend = get_backend()
    for deployment in Deployment.objects.all():
        backend.delete(deployment)


def wait_for_rollout(rollout: Rollout, timeout_s: float = 120) -> Rollout:
    """Poll the database until the worker finishes the rollout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rollout.refresh_from_db()
        if not rollout.is_active:
            return rollout
        time.sleep(0.2)
    events = "\n".join(str(e) for e in rollout.events.order_by("created_at"))
    raise AssertionError(f"rollout {rollout.revision} still {rollout.status} after {timeout_s} s:\n{events}")
