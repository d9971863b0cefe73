"""The console's artifact endpoint, which a Kubernetes replica's init container fetches its build from.

Attacked as a model in a pod would: without a token, with a forged one, with its own token for
another build; and fetched for real by docker/fetch_build.py over HTTP from a live console.
"""

from __future__ import annotations

import io
import tarfile

import pytest
from django.test import Client

from deployments.backends.kubernetes.artifacts import artifact_token, artifact_url
from deployments.models import Build, BuildStatus, Model
from serving.bundle import read_bundle
from tests.fixtures.builds import python_bundle_files
from tests.fixtures.deployments import a_ready_build
from tests.kubernetes.test_fetch_build import fetch as run_fetch_script

pytestmark = pytest.mark.django_db


def stored(build: Build) -> Build:
    """Lay out the validated bundle where the console keeps it."""
    build.bundle_dir.mkdir(parents=True, exist_ok=True)
    for name, text in python_bundle_files().items():
        (build.bundle_dir / name).write_text(text)
    (build.bundle_dir / "data").mkdir(exist_ok=True)
    (build.bundle_dir / "data" / "weights.bin").write_bytes(bytes(range(256)) * 4096)
    return build


def fetch(build: Build, token: str | None) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = Client().get(f"/api/v1/builds/{build.build_id}/artifact/", headers=headers)
    body = response.getvalue()  # the stream read whole, or the content
    return response.status_code, body, dict(response.headers)


def test_the_builds_token_gets_its_bundle_as_a_tar_gz(iris_model: Model):
    build = stored(a_ready_build(iris_model))

    status, body, headers = fetch(build, artifact_token(str(build.build_id)))

    assert (status, headers["Content-Type"]) == (200, "application/gzip")
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = sorted(archive.getnames())
        weights = archive.extractfile("data/weights.bin")
        assert weights is not None
        assert weights.read() == bytes(range(256)) * 4096
    assert names == ["berth.yaml", "data", "data/weights.bin", "model.py"]


@pytest.mark.parametrize(("token", "status", "words"), [
    (None, 401, "Authorization: Bearer"),
    ("", 401, "Authorization: Bearer"),
    ("forged:token", 403, "not made by this console"),
])
def test_no_token_or_a_forged_one_gets_nothing(iris_model: Model, token, status, words):
    build = stored(a_ready_build(iris_model))

    got, body, headers = fetch(build, token)

    assert got == status
    assert headers.get("WWW-Authenticate") == ("Bearer" if status == 401 else None)
    assert words in body.decode()
    assert b"berth.yaml" not in body


def test_one_builds_token_does_not_open_another(iris_model: Model):
    mine, other = stored(a_ready_build(iris_model)), stored(a_ready_build(iris_model))

    status, body, _ = fetch(other, artifact_token(str(mine.build_id)))

    assert status == 403
    assert "opens another build" in body.decode()


@pytest.mark.parametrize("state", [BuildStatus.BUILDING, BuildStatus.FAILED])
def test_a_build_that_is_not_ready_is_not_served(iris_model: Model, state):
    build = stored(a_ready_build(iris_model, status=state))

    status, body, _ = fetch(build, artifact_token(str(build.build_id)))

    assert status == 404
    assert "not a ready build" in body.decode()


def test_a_logged_in_user_without_the_token_is_refused_too(iris_model: Model, alice):
    build = stored(a_ready_build(iris_model))
    client = Client()
    client.force_login(alice)

    assert client.get(f"/api/v1/builds/{build.build_id}/artifact/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_init_containers_script_fetches_and_unpacks_it_from_a_live_console(live_console, iris_model, tmp_path):
    build = stored(a_ready_build(iris_model))

    result = run_fetch_script(artifact_url(live_console, str(build.build_id)), artifact_token(str(build.build_id)),
                              tmp_path / "build")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "data" / "weights.bin").read_bytes() == bytes(range(256)) * 4096
    assert read_bundle(tmp_path / "build").entry_point == "model:IrisClassifier"


def test_pods_fetch_over_the_clusters_plain_http_while_everything_else_is_redirected_to_https(iris_model, settings):
    settings.SECURE_SSL_REDIRECT = True
    build = stored(a_ready_build(iris_model))

    status, _, _ = fetch(build, artifact_token(str(build.build_id)))

    assert status == 200
    assert Client().get("/api/v1/builds/").status_code == 301
