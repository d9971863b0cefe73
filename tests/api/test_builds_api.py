"""Builds over REST: `/api/v1/models/<model_id>/builds/` (list, multipart upload) and `/api/v1/builds/`."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from deployments.models import Build, BuildStatus, Membership, Model, Role, Rollout, RolloutStatus
from tests.api.client import api_as, results, stored_builds
from tests.fixtures.builds import (
    IRIS_ROW,
    python_bundle_files,
    tar_gz,
    wait_for_build,
    zip_bytes,
)
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = pytest.mark.django_db

BUILDS = "/api/v1/builds/"


def model_builds(model_id: str = "iris") -> str:
    return f"/api/v1/models/{model_id}/builds/"


def a_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def finished_build(model: Model, **fields: object) -> Build:
    """A build row as validation leaves it, without running anything."""
    defaults: dict[str, object] = {"status": BuildStatus.READY, "framework": "python", "source_name": "iris.tar.gz",
                                   "log": "loaded; predicted 1 row"}
    return Build.objects.create(model=model, **(defaults | fields))


# --- who may see and upload ---------------------------------------------------------------

def test_an_anonymous_caller_cannot_list_read_or_upload_builds(iris_model, iris_python_archive):
    build = finished_build(iris_model)
    client = api_as(None)

    assert client.get(BUILDS).status_code == 401
    assert client.get(f"{BUILDS}{build.build_id}/").status_code == 401
    assert client.get(model_builds()).status_code == 401
    upload = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive)}, format="multipart")
    assert upload.status_code == 401
    assert Build.objects.count() == 1


def test_a_viewer_lists_a_models_builds_both_ways_and_reads_one_with_its_log(iris_model, bob):
    older = finished_build(iris_model)
    newer = finished_build(iris_model, status=BuildStatus.FAILED, error="predict raised ValueError")
    client = api_as(bob)

    nested = results(client.get(model_builds()))
    flat = results(client.get(BUILDS, {"model_id": "iris"}))
    detail = client.get(f"{BUILDS}{newer.build_id}/").json()

    assert [b["build_id"] for b in nested] == [str(newer.build_id), str(older.build_id)]
    assert [b["build_id"] for b in flat] == [str(newer.build_id), str(older.build_id)]
    assert "log" not in flat[0]
    assert (detail["status"], detail["error"], detail["log"]) == ("failed", "predict raised ValueError",
                                                                   "loaded; predicted 1 row")


def test_builds_filter_by_status(iris_model, alice):
    ready = finished_build(iris_model)
    finished_build(iris_model, status=BuildStatus.FAILED)

    listed = results(api_as(alice).get(BUILDS, {"model_id": "iris", "status": "ready"}))

    assert [b["build_id"] for b in listed] == [str(ready.build_id)]


def test_an_outsider_neither_lists_nor_reads_another_projects_builds(iris_model, other_project, charlie):
    build = finished_build(iris_model)
    theirs = finished_build(Model.objects.create(project=other_project, model_id="ltv", name="LTV"))
    client = api_as(charlie)

    assert [b["build_id"] for b in results(client.get(BUILDS))] == [str(theirs.build_id)]
    assert results(client.get(BUILDS, {"model_id": "iris"})) == []
    assert client.get(model_builds()).status_code == 404
    assert client.get(f"{BUILDS}{build.build_id}/").status_code == 404


def test_an_unknown_or_malformed_build_id_is_not_found(iris_model, alice):
    client = api_as(alice)

    assert client.get(f"{BUILDS}{uuid.uuid4()}/").status_code == 404
    assert client.get(f"{BUILDS}not-a-uuid/").status_code == 404


def test_an_outsider_cannot_upload_to_another_projects_model(iris_model, other_project, charlie,
                                                             iris_python_archive):
    before = stored_builds()

    response = api_as(charlie).post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive)},
                                    format="multipart")

    assert response.status_code == 404
    assert not Build.objects.exists()
    assert stored_builds() == before


def test_a_viewer_cannot_upload_a_build(iris_model, bob, iris_python_archive):
    before = stored_builds()

    response = api_as(bob).post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive)},
                                format="multipart")

    assert response.status_code == 403
    assert "deployer" in response.json()["detail"]
    assert not Build.objects.exists()
    assert stored_builds() == before


def test_a_builds_status_cannot_change_only_its_label_and_tags(iris_model, deployer):
    build = finished_build(iris_model)
    client = api_as(deployer)

    refused = client.patch(f"{BUILDS}{build.build_id}/", {"status": "failed"}, format="json")
    changed = client.patch(f"{BUILDS}{build.build_id}/", {"label": " v2  retrained ", "tags": ["candidate", "may"]},
                           format="json")

    assert refused.status_code == 400
    assert refused.json()["status"] == ["A build's status is set by its validation."]
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["label"], changed.json()["tags"]) == ("v2 retrained", ["candidate", "may"])
    build.refresh_from_db()
    assert (build.status, build.label, build.tags) == (BuildStatus.READY, "v2 retrained", ["candidate", "may"])


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"label": "x" * 65}, "label", "at most 64 characters"),
    ({"tags": ["ok", "has space"]}, "tags.1", "Use 1-32 letters, digits or . _ : / -"),
    ({"tags": [f"t{n}" for n in range(11)]}, "tags", "at most 10 tags"),
    ({"tags": "candidate"}, "tags", "list"),
], ids=["long label", "tag with a space", "eleven tags", "tags not a list"])
def test_a_bad_label_or_tag_is_refused_naming_the_field_and_nothing_changes(iris_model, alice, body, field, words):
    build = finished_build(iris_model, label="v1", tags=["ok"])

    response = api_as(alice).patch(f"{BUILDS}{build.build_id}/", body, format="json")

    assert response.status_code == 400
    assert words in " ".join(response.json()[field]), response.json()
    build.refresh_from_db()
    assert (build.label, build.tags) == ("v1", ["ok"])


def test_a_viewer_can_neither_label_nor_delete_a_build_and_an_outsider_finds_none(iris_model, bob, charlie,
                                                                                   other_project):
    build = finished_build(iris_model, status=BuildStatus.FAILED)
    url = f"{BUILDS}{build.build_id}/"

    assert api_as(bob).patch(url, {"label": "x"}, format="json").status_code == 403
    assert api_as(bob).delete(url).status_code == 403
    assert api_as(charlie).patch(url, {"label": "x"}, format="json").status_code == 404
    assert api_as(charlie).delete(url).status_code == 404
    assert api_as(None).delete(url).status_code == 401
    build.refresh_from_db()
    assert build.label == ""


def with_files(build: Build) -> Build:
    build.source_path.parent.mkdir(parents=True, exist_ok=True)
    build.source_path.write_bytes(b"archive")
    build.bundle_dir.mkdir(parents=True, exist_ok=True)
    return build


@pytest.mark.django_db(transaction=True)  # the files go once the delete has committed
def test_a_deployer_deletes_a_failed_build_with_its_files(iris_model, deployer):
    build = with_files(finished_build(iris_model, status=BuildStatus.FAILED, error="predict raised"))

    response = api_as(deployer).delete(f"{BUILDS}{build.build_id}/")

    assert response.status_code == 204
    assert not Build.objects.filter(pk=build.pk).exists()
    assert not build.storage_dir.exists()


def test_a_build_still_being_validated_cannot_be_deleted(iris_model, alice):
    build = with_files(finished_build(iris_model, status=BuildStatus.BUILDING))

    response = api_as(alice).delete(f"{BUILDS}{build.build_id}/")

    assert response.status_code == 409
    assert "still being validated" in response.json()["detail"]
    assert build.storage_dir.exists()


def test_a_build_a_deployment_serves_cannot_be_deleted_and_the_answer_names_the_deployment(iris_model, alice):
    build = with_files(a_ready_build(iris_model, label="v1"))
    deployment = serving_deployment(iris_model, variation(build))

    response = api_as(alice).delete(f"{BUILDS}{build.build_id}/")

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"Build {build.short_id} “v1” can't be deleted" in detail
    assert f"iris in production (deployment {deployment.pk}) uses it (serving in variation default; " \
           "named by revision 1)" in detail
    assert Build.objects.filter(pk=build.pk).exists()
    assert build.storage_dir.exists()


def test_a_build_only_an_earlier_revision_names_cannot_be_deleted_a_rollback_may_need_it(iris_model, alice):
    old, new = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(new))
    Rollout.objects.filter(deployment=deployment).update(revision=2)
    Rollout.objects.create(deployment=deployment, revision=1, spec={"variations": [variation(old)]},
                           status=RolloutStatus.ROLLED_BACK)

    response = api_as(alice).delete(f"{BUILDS}{old.build_id}/")

    assert response.status_code == 409
    assert f"(deployment {deployment.pk}) uses it (named by revision 1)" in response.json()["detail"]
    assert Build.objects.filter(pk=old.pk).exists()


# --- uploading --------------------------------------------------------------------------

def test_an_admin_uploads_a_bundle_which_is_stored_and_starts_building(iris_model, alice, iris_python_archive):
    response = api_as(alice).post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive)},
                                  format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    build = Build.objects.get(build_id=body["build_id"])
    assert (body["status"], body["model_id"], body["created_by"]) == ("building", "iris", "alice")
    assert build.source_path.read_bytes() == iris_python_archive
    assert body["size_bytes"] == len(iris_python_archive)
    assert len(body["sha256"]) == 64


def test_a_deployer_uploads_a_single_model_file_with_its_framework_and_example(iris_model, charlie, iris_joblib):
    Membership.objects.create(project=iris_model.project, user=charlie, role=Role.DEPLOYER)

    response = api_as(charlie).post(model_builds(), {
        "file": a_file("model.joblib", iris_joblib.read_bytes()), "framework": "sklearn",
        "example_input": json.dumps(IRIS_ROW),
    }, format="multipart")

    assert response.status_code == 201, response.json()
    build = Build.objects.get()
    assert (build.framework, build.example_input, build.source_name) == ("sklearn", [IRIS_ROW], "model.joblib")


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_bundle_becomes_ready_through_the_worker(celery_worker, iris_model, alice, iris_python_archive):
    response = api_as(alice).post(model_builds(), {"file": a_file("iris.zip", zip_bytes(python_bundle_files()))},
                                  format="multipart")
    assert response.status_code == 201, response.json()

    wait_for_build(Build.objects.get(build_id=response.json()["build_id"]))
    detail = api_as(alice).get(f"{BUILDS}{response.json()['build_id']}/").json()

    assert detail["status"] == "ready", detail["error"]
    assert [f["name"] for f in detail["input_schema"]] == list(IRIS_ROW)
    assert detail["example_output"] == [{"species": 0}]


def test_an_upload_carries_a_label_and_tags_shown_in_the_list(iris_model, alice, iris_python_archive):
    response = api_as(alice).post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive), "label": "v1",
                                                   "tags": ["candidate", "may-data"]}, format="multipart")

    assert response.status_code == 201, response.json()
    listed = results(api_as(alice).get(model_builds()))
    assert (listed[0]["label"], listed[0]["tags"]) == ("v1", ["candidate", "may-data"])


def test_the_same_file_again_is_refused_naming_the_build_it_matches_and_nothing_is_stored(iris_model, alice,
                                                                                         iris_python_archive):
    client = api_as(alice)
    first = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive), "label": "v1"},
                        format="multipart").json()
    before = stored_builds()

    again = client.post(model_builds(), {"file": a_file("iris-copy.tar.gz", iris_python_archive)}, format="multipart")

    built = Build.objects.get()
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert f"identical (same SHA-256) to build {built.short_id} “v1”, uploaded {built.uploaded_at_text}" in detail
    assert first["build_id"] in detail
    assert "allow_duplicate=true" in detail
    assert stored_builds() == before


def test_the_same_file_is_taken_on_purpose_with_allow_duplicate_and_a_label_of_its_own(iris_model, alice,
                                                                                      iris_python_archive):
    client = api_as(alice)
    client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive), "label": "v1"},
                format="multipart")
    before = stored_builds()

    unlabelled = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive),
                                              "allow_duplicate": "true"}, format="multipart")
    same_label = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive),
                                              "allow_duplicate": "true", "label": "v1"}, format="multipart")
    assert stored_builds() == before
    labelled = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive),
                                            "allow_duplicate": "true", "label": "v1-rebuild"}, format="multipart")

    assert unlabelled.status_code == same_label.status_code == 400
    assert "give this upload a label of its own" in unlabelled.json()["label"][0]
    assert "give this upload a label of its own" in same_label.json()["label"][0]
    assert labelled.status_code == 201, labelled.json()
    assert sorted(Build.objects.values_list("label", flat=True)) == ["v1", "v1-rebuild"]


def test_another_models_build_of_the_same_file_is_no_duplicate(iris_model, alice, iris_python_archive):
    Model.objects.create(project=iris_model.project, model_id="iris_copy", name="Iris copy")
    client = api_as(alice)

    first = client.post(model_builds(), {"file": a_file("iris.tar.gz", iris_python_archive)}, format="multipart")
    other = client.post(model_builds("iris_copy"), {"file": a_file("iris.tar.gz", iris_python_archive)},
                        format="multipart")

    assert (first.status_code, other.status_code) == (201, 201)


def bad_upload_cases() -> list[tuple[str, dict, str, str]]:
    """(what, form fields, field named in the error, words in the message)."""
    return [
        ("a corrupt archive", {"file": ("iris.tar.gz", b"this is not gzip at all")}, "file", "not a readable"),
        ("a truncated zip", {"file": ("iris.zip", zip_bytes(python_bundle_files())[:60])}, "file", "not a readable"),
        ("a path traversal archive", {"file": ("evil.tar.gz", tar_gz({**python_bundle_files(), "../../evil.py": "x"}))},
         "file", "escapes the bundle"),
        ("an absolute path archive", {"file": ("evil.zip", zip_bytes({"/etc/cron.d/evil": "x"}))},
         "file", "absolute path"),
        ("a single file without framework", {"file": ("model.joblib", b"\x80\x04joblib")}, "file", "needs a framework"),
        ("a single file as python", {"file": ("model.py", b"x = 1"), "framework": "python"}, "framework", "python"),
        ("example input that is not JSON", {"file": ("model.joblib", b"\x80\x04"), "framework": "sklearn",
                                            "example_input": "{sepal_length: 5.1"}, "example_input", "not valid JSON"),
        ("example input that is not records", {"file": ("model.joblib", b"\x80\x04"), "framework": "sklearn",
                                               "example_input": "[1, 2, 3]"}, "example_input", "list of records"),
        ("no file at all", {"framework": "sklearn"}, "file", "No file"),
    ]


@pytest.mark.parametrize(("what", "fields", "field", "words"), bad_upload_cases(), ids=[c[0] for c in bad_upload_cases()])
def test_a_bad_upload_is_refused_naming_the_field_and_nothing_is_stored(iris_model, alice, what, fields, field, words):
    data = {k: a_file(*v) if isinstance(v, tuple) else v for k, v in fields.items()}
    before = stored_builds()

    response = api_as(alice).post(model_builds(), data, format="multipart")

    assert response.status_code == 400, what
    assert words in " ".join(response.json()[field]), response.json()
    assert not Build.objects.exists()
    assert stored_builds() == before


@pytest.mark.parametrize("size", [100, 5 * 1024 * 1024], ids=["kept in memory", "spooled to disk"])
def test_a_corrupt_archive_is_named_as_the_user_uploaded_it(iris_model, alice, size):
    garbage = a_file("churn-v2.tar.gz", b"g" * size)

    response = api_as(alice).post(model_builds(), {"file": garbage}, format="multipart")

    assert response.status_code == 400
    assert response.json()["file"][0].startswith("churn-v2.tar.gz is not a readable")


def test_an_upload_over_the_size_limit_is_refused_saying_the_limit(iris_model, alice, settings):
    settings.BERTH_MAX_UPLOAD_MB = 1
    before = stored_builds()
    big = tar_gz({**python_bundle_files(), "weights.bin": os.urandom(1024 * 1024 + 1)})

    response = api_as(alice).post(model_builds(), {"file": a_file("big.tar.gz", big)}, format="multipart")

    assert response.status_code == 400
    assert "1 MB limit" in response.json()["file"][0]
    assert not Build.objects.exists()
    assert stored_builds() == before


# --- query counts -----------------------------------------------------------------------------

def test_listing_builds_takes_the_same_queries_for_one_or_many(iris_model, alice, bob,
                                                               django_assert_max_num_queries):
    for n in range(15):
        finished_build(iris_model, created_by=alice if n % 2 else bob)
    client = api_as(bob)

    with django_assert_max_num_queries(4):
        flat = client.get(BUILDS, {"model_id": "iris"})
    with django_assert_max_num_queries(6):  # one more than the flat list: the model's own lookup
        nested = client.get(model_builds())

    assert len(results(flat)) == 15
    assert len(results(nested)) == 15
    assert {b["created_by"] for b in results(nested)} == {"alice", "bob"}


def test_a_label_change_answers_the_whole_build_as_a_get_does(iris_model, alice):
    build = finished_build(iris_model, created_by=None)
    client = api_as(alice)

    patched = client.patch(f"{BUILDS}{build.build_id}/", {"label": "v3"}, format="json").json()
    shown = client.get(f"{BUILDS}{build.build_id}/").json()

    del shown["log"], shown["used_by"]  # the detail's own fields
    assert patched == shown
    assert (patched["label"], patched["created_by"]) == ("v3", None)


def test_a_tag_sent_as_a_number_is_refused(iris_model, alice):
    build = finished_build(iris_model)

    response = api_as(alice).put(f"{BUILDS}{build.build_id}/", {"label": "", "tags": [0]}, format="json")

    assert response.status_code == 400
    build.refresh_from_db()
    assert build.tags == []


def test_a_builds_detail_says_which_deployments_use_it(iris_model, bob):
    build, unused = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build))
    client = api_as(bob)

    used_by = client.get(f"{BUILDS}{build.build_id}/").json()["used_by"]

    assert used_by == [{"deployment": deployment.pk, "model_id": "iris", "environment": "production",
                        "serving": ["default"], "revisions": [1]}]
    assert client.get(f"{BUILDS}{unused.build_id}/").json()["used_by"] == []
