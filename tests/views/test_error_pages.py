"""404, 403 and 500 pages inside the console's layout with a way back; the API answers JSON; /favicon.ico."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from console.urls import handler403, handler404, handler500  # noqa: F401 - the handlers of this test URLconf
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


def _fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


def _refuse(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


# The console's own routes, and views that fail as a bug and a refusal would (pages and API alike).
urlpatterns = [
    path("boom/", _fail), path("api/v1/boom/", _fail),
    path("refused/", _refuse), path("api/v1/refused/", _refuse),
    path("", include("console.urls")),
]
with_failing_views = pytest.mark.urls(__name__)


def in_the_layout_with_a_way_back(page: str) -> bool:
    return ('class="topbar"' in page and 'id="error-page"' in page
            and '<a class="button" href="/projects/">Go to your projects</a>' in page
            and 'href="/projects/" data-history-back>Back to the previous page</a>' in page)


def test_a_missing_page_is_a_404_inside_the_layout_with_a_way_back(alice):
    response = logged_in(alice).get("/projects/no-such-project/")

    page = response.content.decode()
    assert response.status_code == 404
    assert in_the_layout_with_a_way_back(page)
    assert "Page not found" in page
    assert ">alice</span>" in page


def test_a_404_does_not_repeat_the_address_asked_for(alice):
    page = logged_in(alice).get("/projects/<b>nothing-here</b>/").content.decode()

    assert "nothing-here" not in page


@with_failing_views
def test_a_refusal_is_a_403_inside_the_layout_with_a_way_back(alice):
    response = logged_in(alice).get("/refused/")

    assert response.status_code == 403
    assert in_the_layout_with_a_way_back(response.content.decode())
    assert "You cannot do this" in response.content.decode()


@with_failing_views
def test_a_bug_is_a_500_inside_the_layout_with_a_way_back(alice):
    client = logged_in(alice)
    client.raise_request_exception = False

    response = client.get("/boom/")

    assert response.status_code == 500
    assert in_the_layout_with_a_way_back(response.content.decode())
    assert "a bug" not in response.content.decode()


@with_failing_views
@pytest.mark.parametrize(("path", "status", "detail"), [
    ("/api/v1/no-such-thing/", 404, "No such API endpoint; see /api/docs/."),
    ("/api/v2/", 404, "Not found."),
    ("/api/v1/refused/", 403, "You do not have permission to do this."),
    ("/api/v1/boom/", 500, "Internal error; the server log has the details."),
])
def test_the_api_keeps_answering_json_errors(path, status, detail):
    client = Client(raise_request_exception=False)

    response = client.get(path)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": detail}


def test_the_favicon_is_linked_from_every_page_and_answered_at_the_usual_address():
    login_page = Client().get("/login/").content.decode()
    redirect = Client().get("/favicon.ico")
    icon = Client().get(redirect["Location"])

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login_page
    assert redirect.status_code == 301
    assert redirect["Location"] == "/static/favicon.svg"
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon)
