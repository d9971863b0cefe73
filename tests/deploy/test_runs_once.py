"""A rollout that outlasts its lock's TTL three times runs once: no second attempt, one "started"."""

from __future__ import annotations

import time

import pytest

from console.locks import lock_ttl_s
from deployments.models import EventKind, RolloutStatus
from deployments.rollouts.requests import deploy
from deployments.tasks import reconcile
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_CLASSIFIER
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)

# A replica that loads until the test drops a `go` file into its (read-only) bundle.
LOADS_UNTIL_GO = IRIS_CLASSIFIER + '''
    def initialize_model(self):
        import os, time
        if os.environ.get("BERTH_VARIATION"):  # only in a deployed replica, not at validation
            while not os.path.exists("/bundle/go"):
                time.sleep(0.1)
'''


def test_a_rollout_that_outlasts_its_lock_ttl_three_times_runs_once(supervisord, celery_worker, iris_model, alice):
    build = ready_build(iris_model, LOADS_UNTIL_GO)
    rollout = deploy(iris_model, spec(build), alice)

    until = time.monotonic() + 3 * lock_ttl_s() + 2
    while time.monotonic() < until:
        reconcile()  # what beat runs every minute: resumes a rollout whose lock expired
        time.sleep(1)
    (build.bundle_dir / "go").touch()
    rollout = wait_for_rollout(rollout)

    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert rollout.attempts == 1
    assert rollout.events.filter(kind=EventKind.STARTED).count() == 1
