"""A data scientist logs in, creates a model, uploads the iris build and watches it become ready."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.builds import python_bundle_files, tar_gz
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_new_model_gets_a_ready_build_without_reloading_the_page(
    page, live_console, celery_worker, project, alice, tmp_path
):
    archive = tmp_path / "iris.tar.gz"
    archive.write_bytes(tar_gz(python_bundle_files()))
    log_in(page, live_console, "alice", PASSWORD)

    page.click(f"text={project.name}")
    page.click("text=New model")
    page.fill("input[name=model_id]", "iris")
    page.fill("input[name=name]", "Iris classifier")
    screenshot(page, "model-create")
    page.click("button:has-text('Create model')")
    page.wait_for_url(f"{live_console}/models/iris/")

    page.set_input_files("input[name=file]", str(archive))
    page.click("button:has-text('Upload')")
    page.wait_for_selector("#builds tr[data-status=building]")
    page.evaluate("window.__sameDocument = true")

    page.wait_for_selector("#builds tr[data-status=ready]", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of updating live"
    screenshot(page, "model-builds")

    page.click("#builds tr[data-status=ready] a.mono")
    assert page.locator(".badge.ready").first.inner_text() == "Ready"
    assert page.locator("text=species").first.is_visible()
    screenshot(page, "build-detail")
