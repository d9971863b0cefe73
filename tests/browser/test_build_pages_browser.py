"""Build pages in Chromium: short ids to copy, the same file twice, a failed build's log, deleting, the docs link."""

from __future__ import annotations

import pytest

from deployments.models import Build, BuildStatus
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.builds import python_bundle_files, tar_gz
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

FAILED_LOG = """berth: running model:IrisClassifier.build()…
Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 131, in _step
    yield
  File "/srv/berth/serving/validate.py", line 77, in _build
    instance.build()
  File "/bundle/model.py", line 9, in build
    X, y = load_data()
  File "/bundle/model.py", line 4, in load_data
    return 1 / 0
ZeroDivisionError: division by zero
berth: build failed: ZeroDivisionError: division by zero (model.py:4 in load_data)"""


def test_a_builds_short_id_stays_on_one_line_and_copies_the_full_id(page, live_console, iris_model, alice):
    build = Build.objects.create(model=iris_model, status=BuildStatus.READY, framework="python",
                                 source_name="iris.tar.gz", label="v1", tags=["candidate"])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_console)
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/")

    link = page.locator(f"#build-{build.build_id} a.build-id")
    assert link.inner_text() == build.short_id
    assert link.get_attribute("title") == str(build.build_id)
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('a.build-id')).lineHeight) || 20")
    assert link.bounding_box()["height"] <= line * 1.5  # one line, not two
    page.locator(f"#build-{build.build_id} button:has-text('Copy ID')").click()
    assert page.evaluate("navigator.clipboard.readText()") == str(build.build_id)
    screenshot(page, "model-builds-short-ids")


def test_the_same_archive_twice_is_refused_then_uploaded_anyway_under_a_label(
    page, live_console, celery_worker, iris_model, alice, tmp_path
):
    archive = tmp_path / "iris.tar.gz"
    archive.write_bytes(tar_gz(python_bundle_files()))
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/")
    page.set_input_files("input[name=file]", str(archive))
    page.fill("input[name=label]", "v1")
    page.click("button:has-text('Upload')")
    page.wait_for_selector("#builds tr[data-status]")
    first = Build.objects.get()

    page.set_input_files("input[name=file]", str(archive))
    page.click("button:has-text('Upload')")
    refusal = page.locator("#upload-build .errorlist").first.inner_text()
    assert f"identical (same SHA-256) to build {first.short_id} “v1”" in refusal
    screenshot(page, "build-duplicate")
    page.set_input_files("input[name=file]", str(archive))
    page.check("input[name=allow_duplicate]")
    page.fill("input[name=label]", "v1-rebuild")
    page.click("button:has-text('Upload')")

    page.wait_for_selector("#builds strong.build-label:has-text('v1-rebuild')")
    assert Build.objects.count() == 2


def test_a_failed_build_shows_the_authors_frames_keeps_the_full_log_and_is_deleted_after_confirming(
    page, live_console, iris_model, alice
):
    build = Build.objects.create(model=iris_model, status=BuildStatus.FAILED, framework="python",
                                 source_name="iris.tar.gz", log=FAILED_LOG,
                                 error="build failed: ZeroDivisionError: division by zero (model.py:4 in load_data)")
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/builds/{build.build_id}/")

    shown = page.inner_text("#build-log")
    assert 'File "/bundle/model.py", line 9, in build' in shown
    assert "serving/validate.py" not in shown
    assert not page.locator("#full-log pre").is_visible()
    page.click("#full-log summary")
    assert "serving/validate.py" in page.inner_text("#full-log pre")
    screenshot(page, "build-failed-log")

    page.click("#delete-build summary")
    page.fill("#confirm-delete", build.short_id)
    page.click(f"button:has-text('Delete build {build.short_id}')")
    page.wait_for_url(f"{live_console}/models/iris/")
    assert f"Build {build.short_id} deleted" in page.inner_text(".messages")
    assert not Build.objects.filter(pk=build.pk).exists()


def test_the_bundle_format_link_opens_the_docs_page(page, live_console, iris_model, alice):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/")

    page.click("text=Builds and bundles")

    page.wait_for_url(f"{live_console}/docs/builds/")
    assert page.inner_text("#doc h1") == "Builds"
    assert page.locator("#doc img").first.evaluate("img => img.naturalWidth") > 0  # the screenshot is served
