"""The Logs tab page, "Load older", the filters and the download, for each persona."""

from __future__ import annotations

import json
import re

import pytest

from tests.fixtures.people import logged_in
from tests.logs.conftest import CHALLENGER, REPLICA, json_line, request_line, write

pytestmark = pytest.mark.django_db


def test_a_viewer_sees_the_newest_lines_as_readable_text_and_the_tab_in_the_nav(bob, deployment):
    write(deployment, REPLICA, request_line("2026-12-01T12:00:01.234Z", "ab12cd34"), "model says hello")

    page = logged_in(bob).get(f"/deployments/{deployment.pk}/logs/").content.decode()

    assert 'aria-current="page">Logs</a>' in page
    assert f"12:00:01.234  INFO   {REPLICA}  request  POST /v1/predict 200 3.1 ms  req=ab12cd34" in page
    assert "model says hello" in page
    assert f'data-logs-ws="/ws/deployments/{deployment.pk}/logs/?after=' in page


def test_an_outsider_gets_404_and_an_anonymous_visitor_the_login_page(client, charlie, other_project, deployment):
    write(deployment, REPLICA, "secret-ish line")
    for path in (f"/deployments/{deployment.pk}/logs/", f"/deployments/{deployment.pk}/logs/download/"):
        outsider = logged_in(charlie).get(path)
        anonymous = client.get(path)
        assert outsider.status_code == 404
        assert b"secret-ish" not in outsider.content
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/login/")


def test_filters_apply_on_the_server_and_a_bad_one_is_explained(bob, deployment):
    write(deployment, REPLICA, request_line("2026-12-01T12:00:01Z", "wanted"), request_line("2026-12-01T12:00:02Z", "x"))
    write(deployment, CHALLENGER, request_line("2026-12-01T12:00:03Z", "y"))
    client = logged_in(bob)

    by_id = client.get(f"/deployments/{deployment.pk}/logs/", {"request_id": "wanted"},
                       headers={"HX-Request": "true", "HX-Target": "logs-panel"}).content.decode()
    bad = client.get(f"/deployments/{deployment.pk}/logs/", {"level": "loud", "request_id": "a b"})

    assert by_id.strip().startswith('<div id="logs-panel"')
    assert "req=wanted" in by_id
    assert "req=x" not in by_id
    assert "req=y" not in by_id
    assert "request_id=wanted" in by_id  # the live socket gets the same filter
    assert bad.status_code == 200
    assert "level: one of debug, info, warning, error, critical" in bad.content.decode()
    assert "request_id: a request id is 1 to 200" in bad.content.decode()


def link(pattern: str, html: str) -> str:
    found = re.search(pattern, html)
    assert found, html[-2000:]
    return found.group(1).replace("&amp;", "&")


def test_load_older_returns_the_previous_lines_and_the_next_link(bob, deployment):
    write(deployment, REPLICA, *[request_line(f"2026-12-01T12:{n // 60:02d}:{n % 60:02d}Z", f"r{n}")
                                 for n in range(450)])
    client = logged_in(bob)
    first = client.get(f"/deployments/{deployment.pk}/logs/").content.decode()
    older_url = link(r'id="load-older" class="load-older" href="([^"]+)"', first)

    older = client.get(older_url, headers={"HX-Request": "true"}).content.decode()
    oldest_url = link(r'href="([^"]+)"', older)
    oldest = client.get(oldest_url, headers={"HX-Request": "true"}).content.decode()

    assert "req=r449" in first
    assert "req=r250" in first
    assert "req=r249" not in first
    assert older.startswith('<a id="load-older"')
    assert "req=r249" in older
    assert "req=r50" in older
    assert "req=r0" in oldest
    assert "load-older" not in oldest  # nothing older is retained


def test_a_download_is_a_file_of_the_time_range_as_text_or_json_lines(bob, deployment):
    write(deployment, REPLICA, request_line("2026-12-01T11:59:59Z", "before"), request_line("2026-12-01T12:00:01Z", "in"),
          json_line("2026-12-01T12:00:02Z", "log", message="also in"), request_line("2026-12-01T12:01:01Z", "after"))
    client = logged_in(bob)
    params = {"since": "2026-12-01T12:00:00", "until": "2026-12-01T12:01:00"}

    text = client.get(f"/deployments/{deployment.pk}/logs/download/", params)
    ndjson = client.get(f"/deployments/{deployment.pk}/logs/download/", params | {"format": "ndjson"})
    bad = client.get(f"/deployments/{deployment.pk}/logs/download/", {"since": "yesterday"})

    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text["Content-Disposition"] == 'attachment; filename="iris-production-20261201T120000Z-20261201T120100Z.log"'
    body = text.getvalue().decode().splitlines()
    assert [line.split("  ")[-1] for line in body] == ["req=in", "also in"]
    rows = [json.loads(line) for line in ndjson.getvalue().decode().splitlines()]
    assert [(row["event"], row["request_id"], row["replica"]) for row in rows] == [
        ("request", "in", REPLICA), ("log", "", REPLICA)]
    assert ndjson["Content-Disposition"].endswith('.ndjson"')
    assert bad.status_code == 400
    assert "since: an ISO 8601 time" in bad.content.decode()
