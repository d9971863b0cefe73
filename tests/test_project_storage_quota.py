"""A project's builds share BERTH_PROJECT_STORAGE_MB of unpacked storage: an upload past it is refused in
its own answer, on the page and in the API alike, and leaves nothing behind (no row, no file).

The hostile upload is small on the wire and large unpacked, so only counting what it unpacks to stops it.
"""

from __future__ import annotations

import html
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from deployments.builds.upload import storage_used, store_build
from deployments.models import Build, BuildStatus, Model, Project
from tests.api.client import api_as, stored_builds
from tests.fixtures.builds import python_bundle_files, tar_gz, zip_bytes
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

KB = 1024
FULL = ("This build unpacks to 0.5 MB, and this project uses 0.7 MB of its 1 MB build storage; delete models "
        "you no longer need (their builds go with them) or ask an admin to raise BERTH_PROJECT_STORAGE_MB.")


@pytest.fixture
def one_mb_each(settings):
    settings.BERTH_PROJECT_STORAGE_MB = 1


def a_stored_build(model: Model, unpacked_bytes: int) -> Build:
    return Build.objects.create(model=model, status=BuildStatus.READY, framework="python",
                                source_name="old.tar.gz", unpacked_bytes=unpacked_bytes)


def half_a_megabyte_unpacked(name: str = "big.tar.gz") -> SimpleUploadedFile:
    """About 0.49 MB unpacked, a few KB uploaded."""
    files: dict[str, str | bytes] = {**python_bundle_files(), "weights.bin": bytes(500 * KB)}
    content = zip_bytes(files) if name.endswith(".zip") else tar_gz(files)
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def ui_upload(user, upload: SimpleUploadedFile) -> tuple[int, str]:
    response = logged_in(user).post("/models/iris/builds/upload/", {"file": upload})
    return response.status_code, html.unescape(response.content.decode())


def api_upload(user, upload: SimpleUploadedFile) -> tuple[int, str]:
    response = api_as(user).post("/api/v1/models/iris/builds/", {"file": upload}, format="multipart")
    return response.status_code, " ".join(response.json().get("file", [])) if response.status_code == 400 else ""


@pytest.mark.parametrize("through", [ui_upload, api_upload])
@pytest.mark.parametrize("name", ["big.tar.gz", "big.zip"])
def test_an_upload_past_the_projects_storage_is_refused_saying_how_much_is_used(
        iris_model, alice, one_mb_each, through, name):
    old = a_stored_build(iris_model, 700 * KB)
    before = stored_builds()

    status, words = through(alice, half_a_megabyte_unpacked(name))

    assert status == 400
    assert FULL in words
    assert list(Build.objects.all()) == [old]
    assert stored_builds() == before


@pytest.mark.parametrize("through", [ui_upload, api_upload])
def test_an_upload_that_fits_is_stored_and_counted_at_its_unpacked_size(iris_model, alice, one_mb_each, through):
    a_stored_build(iris_model, 400 * KB)

    status, _ = through(alice, half_a_megabyte_unpacked())

    assert status in (201, 302)
    new = Build.objects.exclude(source_name="old.tar.gz").get()
    assert new.unpacked_bytes == 500 * KB + sum(len(text.encode()) for text in python_bundle_files().values())
    assert new.source_path.exists()
    assert storage_used(iris_model.project) == 400 * KB + new.unpacked_bytes


def test_another_projects_builds_do_not_count_against_yours(iris_model, other_project, alice, one_mb_each):
    theirs = Model.objects.create(project=other_project, model_id="churn", name="Churn")
    a_stored_build(theirs, 1000 * KB)

    status, _ = api_upload(alice, half_a_megabyte_unpacked())

    assert status == 201
    assert Build.objects.filter(model=iris_model).count() == 1


def test_members_see_how_much_of_the_storage_their_builds_use(iris_model, bob, one_mb_each):
    a_stored_build(iris_model, 700 * KB)

    page = logged_in(bob).get("/projects/fraud/").content.decode()
    build = api_as(bob).get("/api/v1/models/iris/builds/").json()["results"][0]

    assert "Build storage: 0.7 MB of 1 MB used" in page
    assert build["unpacked_bytes"] == 700 * KB


@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_cannot_both_squeeze_into_the_last_of_the_storage(iris_model, alice, one_mb_each):
    outcome: list[object] = []

    def second_upload() -> None:
        try:
            outcome.append(store_build(iris_model, half_a_megabyte_unpacked(), "", None, alice))
        except ValidationError as refused:
            outcome.append(refused)
        finally:
            connection.close()

    with transaction.atomic():  # the first upload, storing 0.7 MB, holds the project
        Project.objects.select_for_update().get(pk=iris_model.project_id)
        a_stored_build(iris_model, 700 * KB)
        racer = threading.Thread(target=second_upload)
        racer.start()
        racer.join(timeout=2)
        assert racer.is_alive(), "the second upload did not wait for the first"
    racer.join(timeout=30)

    assert [type(o) for o in outcome] == [ValidationError]
    assert Build.objects.count() == 1
