"""The docs pages the console serves (docs/builds.md, the bundle format the upload form links)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_log_in(alice):
    assert Client().get("/docs/builds/")["Location"] == "/login/?next=/docs/builds/"
    assert Client().get("/docs/screenshots/build-detail.png")["Location"].startswith("/login/")


def test_the_bundle_format_reads_as_a_page_of_the_console(bob):
    page = logged_in(bob).get("/docs/builds/").content.decode()

    assert "<h1>Builds</h1>" in page
    assert "<h2>berth.yaml</h2>" in page
    assert "<table>" in page  # the limits
    assert 'class="topbar"' in page  # inside the console's layout
    assert 'href="../runtime/#security-model"' in page
    assert 'src="../screenshots/build-detail.png"' in page


def test_links_between_docs_and_their_screenshots_are_served(bob):
    client = logged_in(bob)

    assert client.get("/docs/runtime/").status_code == 200
    shot = client.get("/docs/screenshots/build-detail.png")
    assert (shot.status_code, shot["Content-Type"]) == (200, "image/png")


@pytest.mark.parametrize("path", ["/docs/nothing/", "/docs/screenshots/nothing.png", "/docs/screenshots/..%2Fbuilds.md",
                                  "/docs/screenshots/%2Fetc%2Fpasswd"])
def test_anything_else_is_not_found(bob, path):
    assert logged_in(bob).get(path).status_code == 404


def test_markdown_html_is_shown_as_text_never_run(bob, settings, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "evil.md").write_text("# Hi\n\n<script>alert(1)</script>\n")
    settings.BASE_DIR = tmp_path

    page = logged_in(bob).get("/docs/evil/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
