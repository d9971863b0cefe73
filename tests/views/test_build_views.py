"""Build pages: upload from the model page, and the build detail page."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from deployments.models import Build, BuildStatus, Membership, Model, Role
from tests.api.client import stored_builds
from tests.fixtures.builds import python_bundle_files, tar_gz, wait_for_build
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


def bundle(name: str = "iris.tar.gz", content: bytes | None = None) -> dict[str, object]:
    return {"file": SimpleUploadedFile(name, tar_gz(python_bundle_files()) if content is None else content)}


def a_build(model: Model, **fields: object) -> Build:
    defaults: dict[str, object] = {"status": BuildStatus.READY, "framework": "python", "source_name": "iris.tar.gz",
                                   "log": "predicted 1 row in 0.01 s", "timings": {"predict_s": 0.01},
                                   "input_schema": [{"name": "sepal_length", "dtype": "float64"}]}
    return Build.objects.create(model=model, **(defaults | fields))


def test_an_anonymous_visitor_is_sent_to_log_in(iris_model):
    build = a_build(iris_model)
    url = f"/models/iris/builds/{build.build_id}/"

    assert Client().get(url)["Location"] == f"/login/?next={url}"
    upload = Client().post("/models/iris/builds/upload/", bundle())
    assert upload.status_code == 302
    assert Build.objects.count() == 1


def test_an_admin_uploads_a_bundle_and_sees_it_building(iris_model, alice):
    response = logged_in(alice).post("/models/iris/builds/upload/", bundle(), follow=True)
    page = response.content.decode()
    build = Build.objects.get()

    assert response.redirect_chain == [("/models/iris/", 302)]
    assert f"Build {build.short_id} uploaded." in page
    assert "validating it now" not in page  # a flash would outlive the validation; the row is live
    assert f'id="build-{build.build_id}"' in page
    assert 'data-status="building"' in page
    assert build.source_path.exists()
    assert build.created_by == alice


def test_a_deployer_uploads_a_single_model_file_with_its_framework(iris_model, charlie, iris_joblib):
    Membership.objects.create(project=iris_model.project, user=charlie, role=Role.DEPLOYER)

    response = logged_in(charlie).post("/models/iris/builds/upload/", {
        "file": SimpleUploadedFile("model.joblib", iris_joblib.read_bytes()), "framework": "sklearn",
        "example_input": '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}',
    })

    assert response.status_code == 302
    assert Build.objects.get().framework == "sklearn"


@pytest.mark.parametrize(("what", "data", "message"), [
    ("a corrupt archive", {"file": ("iris.tar.gz", b"nope")}, "not a readable"),
    ("a path traversal archive", {"file": ("evil.tar.gz", tar_gz({"../evil.py": "x"}))}, "escapes the bundle"),
    ("a single file without framework", {"file": ("model.joblib", b"x")}, "needs a framework"),
    ("example input that is not JSON", {"file": ("model.joblib", b"x"), "framework": "sklearn",
                                        "example_input": "{oops"}, "not valid JSON"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_bad_upload_is_explained_on_the_model_page_and_nothing_is_stored(iris_model, alice, what, data, message):
    fields = {k: SimpleUploadedFile(*v) if isinstance(v, tuple) else v for k, v in data.items()}
    before = stored_builds()

    response = logged_in(alice).post("/models/iris/builds/upload/", fields)

    assert response.status_code == 400, what
    assert message in response.content.decode()
    assert 'id="upload-build"' in response.content.decode()
    assert not Build.objects.exists()
    assert stored_builds() == before


def test_an_upload_over_the_size_limit_is_refused(iris_model, alice, settings):
    settings.BERTH_MAX_UPLOAD_MB = 1

    response = logged_in(alice).post("/models/iris/builds/upload/", bundle("big.zip", b"0" * (1024 * 1024 + 1)))

    assert response.status_code == 400
    assert "1 MB limit" in response.content.decode()
    assert not Build.objects.exists()


def test_an_archive_that_unpacks_past_the_limit_is_refused_in_the_upload_answer(iris_model, alice, settings):
    settings.BERTH_MAX_UNPACKED_MB = 1
    bomb = tar_gz({**python_bundle_files(), "weights.bin": b"\0" * (3 * 1024 * 1024)})  # 3 MB of zeros: tiny packed

    response = logged_in(alice).post("/models/iris/builds/upload/", bundle("bomb.tar.gz", bomb))

    assert response.status_code == 400
    assert "unpacks to 3 MB, over the 1 MB limit (BERTH_MAX_UNPACKED_MB)" in response.content.decode()
    assert not Build.objects.exists()


def test_a_viewer_cannot_upload(iris_model, bob):
    before = stored_builds()

    assert logged_in(bob).post("/models/iris/builds/upload/", bundle()).status_code == 403
    assert not Build.objects.exists()
    assert stored_builds() == before


def test_an_outsider_cannot_upload_to_another_projects_model(iris_model, other_project, charlie):
    assert logged_in(charlie).post("/models/iris/builds/upload/", bundle()).status_code == 404
    assert not Build.objects.exists()


def test_the_upload_address_only_accepts_post(iris_model, alice):
    assert logged_in(alice).get("/models/iris/builds/upload/").status_code == 405


def test_a_viewer_reads_a_builds_status_schema_timings_and_log(iris_model, bob):
    build = a_build(iris_model)

    page = logged_in(bob).get(f"/models/iris/builds/{build.build_id}/").content.decode()

    assert str(build.build_id) in page
    assert "Ready" in page
    assert "sepal_length" in page
    assert "Predict on the example input, warm" in page
    assert "predicted 1 row in 0.01 s" in page


def test_examples_read_as_json_to_paste_with_fields_in_the_schemas_order(iris_model, bob):
    schema = [{"name": n, "dtype": "float64"} for n in ("sepal_length", "sepal_width", "petal_length", "petal_width")]
    row = {"petal_width": 0.2, "sepal_width": 3.5, "petal_length": 1.4, "sepal_length": 5.1}
    build = a_build(iris_model, input_schema=schema, example_input=[row, row],
                    output_schema=[{"name": "species", "dtype": "int64"}], example_output=[{"species": 0}] * 2)

    page = logged_in(bob).get(f"/models/iris/builds/{build.build_id}/").content.decode()

    record = "{&quot;sepal_length&quot;: 5.1, &quot;sepal_width&quot;: 3.5, &quot;petal_length&quot;: 1.4, " \
             "&quot;petal_width&quot;: 0.2}"
    assert f"<pre>[\n  {record},\n  {record}\n]</pre>" in page
    assert "<pre>[\n  {&quot;species&quot;: 0},\n  {&quot;species&quot;: 0}\n]</pre>" in page


def test_a_failed_build_says_why(iris_model, alice):
    build = a_build(iris_model, status=BuildStatus.FAILED, error="predict() raised ValueError: petal_width")

    page = logged_in(alice).get(f"/models/iris/builds/{build.build_id}/").content.decode()

    assert "Why it failed" in page
    assert "petal_width" in page


def test_an_outsider_gets_not_found_for_another_projects_build(iris_model, other_project, charlie):
    build = a_build(iris_model)

    assert logged_in(charlie).get(f"/models/iris/builds/{build.build_id}/").status_code == 404


def test_an_unknown_or_malformed_build_is_not_found(iris_model, alice):
    client = logged_in(alice)

    assert client.get(f"/models/iris/builds/{uuid.uuid4()}/").status_code == 404
    assert client.get("/models/iris/builds/not-a-uuid/").status_code == 404


def test_a_build_reached_under_the_wrong_model_redirects_to_its_own(iris_model, alice):
    from deployments.models import Model

    Model.objects.create(project=iris_model.project, model_id="other", name="Other")
    build = a_build(iris_model)

    response = logged_in(alice).get(f"/models/other/builds/{build.build_id}/")

    assert response.status_code == 302
    assert response["Location"] == f"/models/iris/builds/{build.build_id}/"


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_bundle_is_shown_ready_once_the_worker_validated_it(celery_worker, iris_model, alice):
    logged_in(alice).post("/models/iris/builds/upload/", bundle())
    build = wait_for_build(Build.objects.get())

    page = logged_in(alice).get(f"/models/iris/builds/{build.build_id}/").content.decode()

    assert build.status == BuildStatus.READY, build.error
    assert 'data-status="ready"' in page
    assert "species" in page
