"""A failure's reason quotes whole log lines, as sentences: never a JSON line cut where a process died."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.backends.exit_reasons import readable
from deployments.backends.local_files import tail_file
from deployments.models import RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_CLASSIFIER
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)

LOADED = '{"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"model_loaded","pid":7}'
ACCESS = ('{"ts":"2026-01-02T03:04:06.001Z","level":"info","event":"request","pid":7,"request_id":"r1",'
          '"method":"POST","path":"/v1/predict","status":200,"latency_ms":1.5}')
# Dies in the middle of writing a log line, in a deployed replica only (validation passes). Straight to
# file descriptor 1, as native code would: what Python code prints becomes a model_output line instead.
DIES_MID_LINE = IRIS_CLASSIFIER + '''
    def initialize_model(self):
        import os
        if os.environ.get("BERTH_VARIATION"):
            os.write(1, b'{"ts":"2026-01-02T03:04:05.678Z","level":"error","eve')
            os._exit(3)
'''


def test_a_tail_has_only_whole_lines(tmp_path: Path):
    log = tmp_path / "replica.log"
    log.write_text("x" * 100 + "\n" + LOADED + "\n" + '{"ts":"2026-01-02T03:04:06')

    assert tail_file(log, 10) == ["x" * 100, LOADED]
    assert tail_file(log, 10, window=len(LOADED) + 40) == [LOADED]  # the window starts inside the x line


def test_a_json_fragment_is_left_out_and_a_line_written_into_another_reads_as_its_record():
    lines = ['{"ts":"2026-01-02T03:04:05.678Z","level":"err', '{"ts":"2026-01-02T03:04:05.6' + LOADED,
             "Traceback (most recent call last):", 'KeyError: "petal_width"', ACCESS]

    assert readable(lines) == ("03:04:05 info model_loaded", "Traceback (most recent call last):",
                               'KeyError: "petal_width"', "03:04:06 info request: POST /v1/predict 200")


def test_a_replica_that_dies_mid_line_fails_the_rollout_with_whole_readable_lines(supervisord, celery_worker,
                                                                                   iris_model, alice):
    failed = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model, DIES_MID_LINE)), alice))

    assert failed.status == RolloutStatus.FAILED
    assert "keeps crashing" in failed.reason
    assert "exited with code 3" in failed.reason
    assert '{"ts' not in failed.reason, failed.reason
    assert '"eve' not in failed.reason, failed.reason
