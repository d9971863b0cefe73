"""`berth deployments logs`: the lines as the tab shows them, filters, --follow, against a live console."""

from __future__ import annotations

import select
import time

import pytest

from tests.cli.run import Running, berth
from tests.fixtures.people import token_for
from tests.logs.conftest import REPLICA, request_line, write

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_prints_readable_lines_and_filters_by_request_id(live_console, deployment, bob):
    write(deployment, REPLICA, request_line("2026-12-01T12:00:01.234Z", "ab12"), request_line("2026-12-01T12:00:02Z", "cd34"),
          "a print from model code")

    everything = berth("deployments", "logs", str(deployment.pk), url=live_console, token=token_for(bob))
    one = berth("deployments", "logs", "--model-id", "iris", "--request-id", "cd34", url=live_console,
                token=token_for(bob))

    assert everything.code == 0, everything.err
    assert everything.out.splitlines()[0] == (
        f"12:00:01.234  INFO   {REPLICA}  request  POST /v1/predict 200 3.1 ms  req=ab12")
    assert everything.out.splitlines()[-1].endswith("a print from model code")
    assert one.out.splitlines() == [f"12:00:02.000  INFO   {REPLICA}  request  POST /v1/predict 200 3.1 ms  req=cd34"]


def test_follow_prints_lines_written_after_it_started(live_console, deployment, bob):
    write(deployment, REPLICA, request_line("2026-12-01T12:00:01Z", "old"))
    with Running("deployments", "logs", str(deployment.pk), "--follow", url=live_console,
                 token=token_for(bob)) as follow:
        assert follow.process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not any("req=new" in line for line in seen):
            assert time.monotonic() < deadline, seen
            if any("req=old" in line for line in seen):
                write(deployment, REPLICA, request_line("2026-12-01T12:00:05Z", "new"))
            if select.select([follow.process.stdout], [], [], 1)[0]:
                seen.append(follow.process.stdout.readline())

    assert next(line for line in seen if "req=new" in line).startswith("12:00:05.000  INFO")


def test_an_outsider_is_told_there_is_no_such_deployment(live_console, deployment, charlie, other_project):
    result = berth("deployments", "logs", str(deployment.pk), url=live_console, token=token_for(charlie))

    assert result.failed_saying("No such deployment in your projects")
