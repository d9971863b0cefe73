"""The deployment's Rollouts & events tab: event times, links in messages, filters and pages, each revision's build."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Build, Deployment, EventKind, EventLevel, Model, RolloutEvent
from deployments.state.page import EVENTS_PER_PAGE
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=2)


def an_event(deployment: Deployment, message: str = "Something happened.", **fields) -> RolloutEvent:
    return RolloutEvent.objects.create(deployment=deployment, **({"kind": EventKind.SCALED} | fields),
                                       message=message)


def events_tab(client: Client, deployment: Deployment, query: str = "", **headers) -> str:
    response = client.get(f"/deployments/{deployment.pk}/events/{query}", **headers)
    assert response.status_code == 200
    return response.content.decode()


def event_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="event-(\d+)"', html)]


# --- who may see it ---------------------------------------------------------------------------

def test_filters_and_pages_need_a_login_and_a_membership(deployment, bob, charlie, other_project):
    url = f"/deployments/{deployment.pk}/events/?level=error&page=2"

    assert Client().get(url)["Location"].startswith("/login/")
    assert logged_in(charlie).get(url).status_code == 404
    assert logged_in(charlie).get(url, HTTP_HX_REQUEST="true").status_code == 404
    assert logged_in(bob).get(url).status_code == 200  # a viewer may read every event


# --- times --------------------------------------------------------------------------------------

def test_an_event_of_today_shows_its_time_and_the_full_time_and_zone_on_hover(deployment, alice):
    event = an_event(deployment)
    local = timezone.localtime(event.created_at)

    html = events_tab(logged_in(alice), deployment)

    assert (f'<time datetime="{local.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S} UTC">{local:%H:%M:%S}</time>'
            in html)


def test_an_event_of_another_day_shows_its_date_too(deployment, alice):
    event = an_event(deployment, created_at=timezone.now() - timedelta(days=3))
    local = timezone.localtime(event.created_at)

    html = events_tab(logged_in(alice), deployment)

    assert f'title="{local:%Y-%m-%d %H:%M:%S} UTC">{local:%Y-%m-%d %H:%M:%S}</time>' in html


# --- links in messages --------------------------------------------------------------------------

def test_a_url_in_an_event_message_is_a_link_and_markup_in_it_stays_text(deployment, alice):
    an_event(deployment, '<script>alert("x")</script> Logs: https://logs.example.com/q?a=1&b=<2>.\nNext line')

    html = events_tab(logged_in(alice), deployment)

    assert "<script>alert" not in html
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Logs: ' in html
    assert ('<a href="https://logs.example.com/q?a=1&amp;b=" rel="noopener noreferrer nofollow">'
            "https://logs.example.com/q?a=1&amp;b=</a>&lt;2&gt;.<br>Next line") in html


def test_only_http_urls_become_links_and_a_quote_cannot_leave_the_href(deployment, alice):
    an_event(deployment, "javascript:alert(1) ftp://files.example.com https://ok.example.com/\"onmouseover=alert(1)")

    html = events_tab(logged_in(alice), deployment)

    assert 'href="javascript:' not in html
    assert 'href="ftp:' not in html
    assert ('<a href="https://ok.example.com/" rel="noopener noreferrer nofollow">https://ok.example.com/</a>'
            "&quot;onmouseover=alert(1)") in html


# --- filters and pages --------------------------------------------------------------------------

def test_events_can_be_filtered_by_level(deployment, alice):
    error = an_event(deployment, "It broke.", level=EventLevel.ERROR)
    an_event(deployment, "Fine.", level=EventLevel.INFO)

    html = events_tab(logged_in(alice), deployment, "?level=error")

    assert event_ids(html) == [error.pk]
    assert '<option value="error" selected>Error</option>' in html
    assert 'id="clear-filters"' in html


def test_events_can_be_filtered_by_kind_and_level_together(deployment, alice):
    wanted = an_event(deployment, "Crashed.", kind=EventKind.REPLICA_CRASHED, level=EventLevel.WARNING)
    an_event(deployment, "Crashed, badly.", kind=EventKind.REPLICA_CRASHED, level=EventLevel.ERROR)
    an_event(deployment, "Scaled.", kind=EventKind.SCALED, level=EventLevel.WARNING)

    html = events_tab(logged_in(alice), deployment, "?kind=replica_crashed&level=warning")

    assert event_ids(html) == [wanted.pk]
    assert '<option value="replica_crashed" selected>Replica crashed</option>' in html


def test_a_filter_nothing_matches_says_so(deployment, alice):
    html = events_tab(logged_in(alice), deployment, "?level=error")

    assert event_ids(html) == []
    assert "No event matches these filters." in html


def test_unknown_filter_values_and_pages_are_ignored(deployment, alice):
    html = events_tab(logged_in(alice), deployment, "?level=<b>&kind=nope&page=%D9%A3")

    assert len(event_ids(html)) == deployment.events.count() > 1
    assert "<b>" not in html


def test_events_come_in_pages_of_the_newest_first_and_the_pager_keeps_the_filter(deployment, alice):
    now = timezone.now()
    for i in range(EVENTS_PER_PAGE + 5):
        an_event(deployment, f"Warning {i}.", level=EventLevel.WARNING, created_at=now + timedelta(seconds=i))
    client = logged_in(alice)

    first = events_tab(client, deployment, "?level=warning")
    second = events_tab(client, deployment, "?level=warning&page=2")

    warnings = list(deployment.events.filter(level=EventLevel.WARNING).order_by("-created_at", "-id"))
    assert event_ids(first) == [e.pk for e in warnings[:EVENTS_PER_PAGE]]
    assert event_ids(second) == [e.pk for e in warnings[EVENTS_PER_PAGE:]]
    assert f'href="/deployments/{deployment.pk}/events/?level=warning&amp;page=2"' in first
    assert 'id="newer-events"' not in first
    assert f'href="/deployments/{deployment.pk}/events/?level=warning"' in second
    assert "Page 2 of 2 · 55 events" in second


def test_the_live_socket_is_told_the_filter_so_new_events_respect_it(deployment, alice):
    html = events_tab(logged_in(alice), deployment, "?kind=scaled&page=2")

    assert f'ws-connect="/ws/deployments/{deployment.pk}/events/?tab=events&amp;kind=scaled&amp;page=2"' in html


def test_an_htmx_filter_gets_only_the_live_part_of_the_page(deployment, alice):
    error = an_event(deployment, "It broke.", level=EventLevel.ERROR)

    html = events_tab(logged_in(alice), deployment, "?level=error", HTTP_HX_REQUEST="true")

    assert html.lstrip().startswith('<div id="deployment-live"')
    assert "<html" not in html
    assert "topbar" not in html
    assert event_ids(html) == [error.pk]


def test_htmx_restoring_history_gets_the_whole_page(deployment, alice):
    html = events_tab(logged_in(alice), deployment, "?level=error", HTTP_HX_REQUEST="true",
                      HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert "<html" in html
    assert 'class="topbar"' in html


def test_filtering_and_paging_take_a_fixed_number_of_queries(deployment, alice, django_assert_max_num_queries):
    for _ in range(EVENTS_PER_PAGE + 10):
        an_event(deployment, level=EventLevel.WARNING)
    client = logged_in(alice)

    with django_assert_max_num_queries(22):
        client.get(f"/deployments/{deployment.pk}/events/?level=warning&page=2")


# --- revisions ---------------------------------------------------------------------------------

def revision_row(html: str, revision: int) -> str:
    row = re.search(rf'<tr id="rollout-{revision}".*?</tr>', html, re.S)
    assert row is not None
    return row.group(0)


def test_each_revision_shows_its_build_short_id_linked_and_its_label(iris_model, alice):
    build = a_ready_build(iris_model, label="retrained-may")
    deployment = serving_deployment(iris_model, variation(build), revisions=2)

    html = events_tab(logged_in(alice), deployment)

    link = (f'<a class="mono build-id" href="/models/iris/builds/{build.build_id}/" title="{build.build_id}">'
            f"{build.short_id}</a>")
    for revision in (1, 2):
        row = revision_row(html, revision)
        assert link in row
        assert '<strong class="build-label">retrained-may</strong>' in row
        assert f'id="revision-{revision}-default-{build.build_id}" data-copy-label="Copy ID"' in row


def test_a_revision_of_two_variations_names_each_variations_build(iris_model, alice):
    one, two = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(one, traffic_percent=60),
                                    variation(two, name="challenger", traffic_percent=40))

    row = revision_row(events_tab(logged_in(alice), deployment), 1)

    for name, build in (("default", one), ("challenger", two)):
        assert re.search(rf'<span class="muted">{name}:</span>\s*<a class="mono build-id" '
                         rf'href="/models/iris/builds/{build.build_id}/"', row)


def test_a_revision_whose_build_was_deleted_still_shows_its_short_id(deployment, alice):
    build_id = str(deployment.variations.get().build_id)
    deployment.variations.all().delete()
    Build.objects.filter(build_id=build_id).delete()

    row = revision_row(events_tab(logged_in(alice), deployment), 1)

    assert f'<span class="mono" title="{build_id} (deleted)">{build_id[:8]}</span>' in row
