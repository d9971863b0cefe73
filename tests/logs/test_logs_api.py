"""GET /api/v1/deployments/<id>/logs/: pages back and forward, the tab's filters, and who may read."""

from __future__ import annotations

import pytest

from tests.api.client import api_as
from tests.logs.conftest import CHALLENGER, REPLICA, json_line, request_line, write

pytestmark = pytest.mark.django_db


def url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/logs/"


def test_a_viewer_pages_back_with_older_and_follows_with_newer(deployment, bob):
    write(deployment, REPLICA, *[request_line(f"2026-12-01T12:00:{n:02d}Z", f"r{n}") for n in range(5)])
    api = api_as(bob)

    first = api.get(url(deployment), {"limit": 3}).json()
    second = api.get(url(deployment), {"limit": 3, "before": first["older"]}).json()
    write(deployment, CHALLENGER, request_line("2026-12-01T12:01:00Z", "new"))
    newer = api.get(url(deployment), {"after": first["newer"]}).json()

    assert [line["request_id"] for line in first["lines"]] == ["r2", "r3", "r4"]
    assert [line["request_id"] for line in second["lines"]] == ["r0", "r1"]
    assert second["older"] is None
    assert [(line["request_id"], line["variation"]) for line in newer["lines"]] == [("new", "challenger")]
    line = first["lines"][-1]
    assert line["details"] == {"pid": 41, "method": "POST", "path": "/v1/predict", "status": 200, "latency_ms": 3.1}
    assert (line["time"], line["level"], line["event"], line["replica"]) == (
        "2026-12-01T12:00:04Z", "info", "request", REPLICA)


def test_filters_are_the_tabs(deployment, bob):
    write(deployment, REPLICA, request_line("2026-12-01T12:00:01Z", "a"), json_line("2026-12-01T12:00:02Z", "log",
          level="error", message="failed to score", request_ids=["a", "b"]))

    answer = api_as(bob).get(url(deployment), {"request_id": "b", "level": "warning", "q": "SCORE"}).json()

    assert [line["message"] for line in answer["lines"]] == ["failed to score"]


def test_bad_parameters_are_refused_saying_what_to_fix(deployment, bob):
    api = api_as(bob)

    level = api.get(url(deployment), {"level": "loud"})
    cursor = api.get(url(deployment), {"before": "not-a-cursor"})
    times = api.get(url(deployment), {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"})
    limit = api.get(url(deployment), {"limit": 5000})

    assert level.status_code == 400
    assert "level" in level.json()
    assert cursor.status_code == 400
    assert "not a cursor this console gave out" in cursor.json()["before"][0]
    assert times.json() == {"until": ["must not be before since"]}
    assert limit.status_code == 400


def test_an_outsider_gets_404_and_an_anonymous_caller_401(deployment, charlie, other_project):
    write(deployment, REPLICA, "a line")

    assert api_as(charlie).get(url(deployment)).status_code == 404
    assert api_as(None).get(url(deployment)).status_code == 401


def test_an_empty_time_or_limit_is_refused_rather_than_taken_as_left_out(deployment, bob):
    answer = api_as(bob).get(url(deployment) + "?until=&limit=")

    assert answer.status_code == 400
    assert answer.json() == {"until": ["empty; give a value or leave the parameter out"],
                             "limit": ["empty; give a value or leave the parameter out"]}
