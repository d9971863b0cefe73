"""Build pages: upload from the model page, and the build detail page."""

from __future__ import annotations

import html
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from deployments.models import Build, BuildStatus, Deployment, Membership, Model, Role, Rollout, RolloutStatus
from tests.api.client import stored_builds
from tests.fixtures.builds import IRIS_ROW, python_bundle_files, tar_gz, wait_for_build
from tests.fixtures.deployments import serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

QUERIES_OF_A_BUILD_PAGE = 6  # session, user, build, membership, the variations and the revisions using it


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


# --- the same file twice -----------------------------------------------------------------

def test_the_same_file_again_is_refused_naming_the_build_and_offering_upload_anyway(iris_model, alice):
    archive = tar_gz(python_bundle_files())
    client = logged_in(alice)
    client.post("/models/iris/builds/upload/", {**bundle(content=archive), "label": "v1"})
    first = Build.objects.get()
    before = stored_builds()

    response = client.post("/models/iris/builds/upload/", bundle(content=archive))

    page = response.content.decode()
    assert response.status_code == 400
    assert f"identical (same SHA-256) to build {first.short_id} “v1”, uploaded {first.uploaded_at_text}" in page
    assert 'type="checkbox" name="allow_duplicate"' in page
    assert Build.objects.count() == 1
    assert stored_builds() == before


def test_upload_anyway_is_hidden_until_a_file_is_refused_as_the_same(iris_model, alice):
    page = logged_in(alice).get("/models/iris/").content.decode()

    assert 'type="hidden" name="allow_duplicate"' in page
    assert 'type="checkbox" name="allow_duplicate"' not in page


def test_the_same_file_uploaded_anyway_needs_a_label_of_its_own(iris_model, alice):
    archive = tar_gz(python_bundle_files())
    client = logged_in(alice)
    client.post("/models/iris/builds/upload/", {**bundle(content=archive), "label": "v1"})

    unlabelled = client.post("/models/iris/builds/upload/", {**bundle(content=archive), "allow_duplicate": "on"})
    labelled = client.post("/models/iris/builds/upload/", {**bundle(content=archive), "allow_duplicate": "on",
                                                           "label": "v1-rebuild", "tags": "retry, may"})

    assert unlabelled.status_code == 400
    assert "give this upload a label of its own" in unlabelled.content.decode()
    assert labelled.status_code == 302
    again = Build.objects.get(label="v1-rebuild")
    assert again.tags == ["retry", "may"]
    assert Build.objects.count() == 2


# --- ids, labels and tags in the list -----------------------------------------------------

def test_the_build_list_shows_short_ids_with_the_full_one_on_hover_and_to_copy(iris_model, bob):
    build = a_build(iris_model, label="v2", tags=["candidate"])

    page = logged_in(bob).get("/models/iris/").content.decode()

    link = f'href="/models/iris/builds/{build.build_id}/" title="{build.build_id}">{build.short_id}</a>'
    assert link in page
    assert f'data-copy-label="Copy ID">{build.build_id}</span>' in page
    assert f">{build.build_id}</a>" not in page
    assert '<strong class="build-label">v2</strong>' in page
    assert '<span class="badge tag">candidate</span>' in page


def test_the_bundle_format_is_a_link_to_its_docs_page(iris_model, alice):
    page = logged_in(alice).get("/models/iris/").content.decode()

    assert '<a href="/docs/builds/">' in page
    assert "Bundle format: docs/builds.md" not in page


# --- the build page: deploy, where it is deployed, label and tags ----------------------------

def test_a_ready_builds_page_offers_deployers_to_deploy_it(iris_model, alice, bob):
    build = a_build(iris_model)
    failed = a_build(iris_model, status=BuildStatus.FAILED)
    deploy = f'href="/models/iris/deploy/?build={build.build_id}"'

    assert deploy in logged_in(alice).get(f"/models/iris/builds/{build.build_id}/").content.decode()
    assert deploy not in logged_in(bob).get(f"/models/iris/builds/{build.build_id}/").content.decode()
    assert 'id="deploy-build"' not in logged_in(alice).get(f"/models/iris/builds/{failed.build_id}/").content.decode()


def test_a_builds_page_lists_the_deployments_using_it(iris_model, bob):
    build = a_build(iris_model, example_input=[IRIS_ROW])
    unused = a_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build))

    page = logged_in(bob).get(f"/models/iris/builds/{build.build_id}/").content.decode()
    other = logged_in(bob).get(f"/models/iris/builds/{unused.build_id}/").content.decode()

    assert f'<a href="/deployments/{deployment.pk}/">iris in production</a>: serving in variation default; ' \
           "named by revision 1" in page
    assert "No deployment uses this build." in other


def test_a_deployer_changes_a_builds_label_and_tags(iris_model, deployer):
    build = a_build(iris_model)

    response = logged_in(deployer).post(f"/models/iris/builds/{build.build_id}/edit/",
                                        {"label": "v2", "tags": "candidate,  may-data"}, follow=True)

    build.refresh_from_db()
    assert (build.label, build.tags) == ("v2", ["candidate", "may-data"])
    assert f"Build {build.short_id} “v2” saved." in response.content.decode()


def test_a_bad_tag_is_explained_and_nothing_changes(iris_model, alice):
    build = a_build(iris_model, label="v1")

    response = logged_in(alice).post(f"/models/iris/builds/{build.build_id}/edit/", {"label": "v2",
                                                                                    "tags": "no spaces please"})

    assert response.status_code == 400
    assert "Tag &#x27;no spaces please&#x27; is not allowed" in response.content.decode()
    build.refresh_from_db()
    assert (build.label, build.tags) == ("v1", [])


def test_a_viewer_can_neither_label_nor_delete_and_an_outsider_finds_no_build(iris_model, bob, charlie, other_project):
    build = a_build(iris_model, status=BuildStatus.FAILED)
    base = f"/models/iris/builds/{build.build_id}"

    assert logged_in(bob).post(f"{base}/edit/", {"label": "x"}).status_code == 403
    assert logged_in(bob).post(f"{base}/delete/", {"confirm": build.short_id}).status_code == 403
    assert logged_in(charlie).post(f"{base}/edit/", {"label": "x"}).status_code == 404
    assert logged_in(charlie).post(f"{base}/delete/", {"confirm": build.short_id}).status_code == 404
    assert Client().post(f"{base}/delete/", {"confirm": build.short_id})["Location"].startswith("/login/")
    assert "Delete this build" not in logged_in(bob).get(f"{base}/").content.decode()
    build.refresh_from_db()
    assert build.label == ""


# --- deleting -----------------------------------------------------------------------------

def with_files(build: Build) -> Build:
    build.source_path.parent.mkdir(parents=True, exist_ok=True)
    build.source_path.write_bytes(b"archive")
    return build


@pytest.mark.django_db(transaction=True)  # the files go once the delete has committed
def test_a_deployer_deletes_a_failed_build_after_confirming_and_its_files_go(iris_model, deployer):
    build = with_files(a_build(iris_model, status=BuildStatus.FAILED, error="predict raised"))
    client = logged_in(deployer)
    url = f"/models/iris/builds/{build.build_id}/delete/"

    unconfirmed = client.post(url, {"confirm": "yes"}, follow=True)
    assert f"Type the build&#x27;s short ID {build.short_id} to confirm" in unconfirmed.content.decode()
    assert build.storage_dir.exists()

    response = client.post(url, {"confirm": build.short_id}, follow=True)

    assert response.redirect_chain == [("/models/iris/", 302)]
    assert f"Build {build.short_id} deleted, with its files." in response.content.decode()
    assert not Build.objects.filter(pk=build.pk).exists()
    assert not build.storage_dir.exists()


def test_a_build_in_use_is_kept_and_the_message_names_the_deployment(iris_model, alice):
    build = with_files(a_build(iris_model, example_input=[IRIS_ROW]))
    deployment = serving_deployment(iris_model, variation(build))

    response = logged_in(alice).post(f"/models/iris/builds/{build.build_id}/delete/", {"confirm": build.short_id},
                                     follow=True)

    page = response.content.decode()
    assert f"iris in production (deployment {deployment.pk}) uses it" in page
    assert Build.objects.filter(pk=build.pk).exists()
    assert build.storage_dir.exists()
    assert "Delete this build" not in page  # not even offered while in use


# --- the validation log -------------------------------------------------------------------

FAILED_LOG = """berth: loading the model…
Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/pandas/core/indexes/base.py", line 3816, in get_loc
    return self._engine.get_loc(casted_key)
KeyError: 'nope'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 131, in _step
    yield
  File "/srv/berth/serving/runtimes/python.py", line 46, in predict_batch
    result = self.model.predict(inputs)
  File "/bundle/model.py", line 11, in predict
    return helper(df)
  File "/bundle/model.py", line 5, in helper
    return pd.DataFrame({"y": df["nope"]})
  File "/usr/lib/python3/site-packages/pandas/core/frame.py", line 4330, in __getitem__
    indexer = self.columns.get_loc(key)
KeyError: 'nope'
berth: predict failed: KeyError: 'nope' (model.py:5 in helper)"""


def test_a_failed_builds_log_starts_at_the_authors_code_with_the_full_log_one_click_away(iris_model, bob):
    build = a_build(iris_model, status=BuildStatus.FAILED, log=FAILED_LOG,
                    error="predict failed: KeyError: 'nope' (model.py:5 in helper)")

    page = html.unescape(logged_in(bob).get(f"/models/iris/builds/{build.build_id}/").content.decode())

    shown, full = page.split('id="build-log">')[1].split("</pre>")[0], page.split('id="full-log">')[1]
    assert 'File "/bundle/model.py", line 11, in predict' in shown
    assert 'File "/usr/lib/python3/site-packages/pandas/core/frame.py"' in shown  # what their code called
    assert "serving/validate.py" not in shown
    assert "serving/runtimes/python.py" not in shown
    assert "indexes/base.py" not in shown  # a cause that never passed through their code
    assert "serving/validate.py" in full.split("</details>")[0]


def test_a_builds_page_takes_the_same_queries_however_many_deployments_use_it(iris_model, bob,
                                                                                django_assert_num_queries):
    build = a_build(iris_model, example_input=[IRIS_ROW])
    deployment = serving_deployment(iris_model, variation(build))
    client = logged_in(bob)
    url = f"/models/iris/builds/{build.build_id}/"

    with django_assert_num_queries(QUERIES_OF_A_BUILD_PAGE):
        client.get(url)
    spec = {"variations": [variation(build)]}
    for revision in range(2, 6):
        Rollout.objects.create(deployment=deployment, revision=revision, spec=spec, status=RolloutStatus.ROLLED_BACK)
    staging = Deployment.objects.create(model=iris_model, environment="staging")
    Rollout.objects.create(deployment=staging, revision=1, spec=spec, status=RolloutStatus.FAILED)
    with django_assert_num_queries(QUERIES_OF_A_BUILD_PAGE):
        page = client.get(url).content.decode()

    assert "serving in variation default; named by revisions 1, 2, 3, 4, 5" in page
    assert "iris in staging</a>: named by revision 1" in page
