"""`--sync` reports the rollout's final outcome: never a success that a second run later turns into a failure."""

from __future__ import annotations

import time

import pytest

from console.locks import lock_ttl_s
from deployments.models import EventKind, Rollout, RolloutStatus
from deployments.models.instance_type import ensure_catalog
from deployments.tasks import reconcile
from tests.cli.run import Running
from tests.deploy.test_runs_once import LOADS_UNTIL_GO
from tests.fixtures.people import token_for
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)


def reconcile_for(seconds: float) -> None:
    """What beat does every minute, every second: resume a rollout whose lock has expired."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        reconcile()
        time.sleep(1)


def test_sync_reports_the_one_outcome_of_a_rollout_that_outlasts_its_lock(
        supervisord, celery_worker, live_console, iris_model, alice, stop_what_was_deployed):
    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    build = ready_build(iris_model, LOADS_UNTIL_GO)

    with Running("models", "deploy", "realtime", "--model-id", "iris", "--build-id", str(build.build_id),
                 "--server-workers", "1", "--sync", url=live_console, token=token_for(alice)) as cli:
        reconcile_for(3 * lock_ttl_s() + 2)
        (build.bundle_dir / "go").touch()
        result = cli.finish()
    reconcile_for(lock_ttl_s() + 2)  # nothing left to resume: what the CLI said stays true

    assert result.succeeded_saying("Revision 1 succeeded."), result.out + result.err
    assert [line.split()[1] for line in result.out.splitlines() if line.startswith("  ")].count("started") == 1
    rollout = Rollout.objects.get()
    assert (rollout.status, rollout.attempts) == (RolloutStatus.SUCCEEDED, 1)
    assert rollout.events.filter(kind=EventKind.STARTED).count() == 1
