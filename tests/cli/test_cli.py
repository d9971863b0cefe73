"""The `berth` CLI against a live console and a real Celery worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.models import ApiToken
from deployments.models import Build, BuildStatus, Model, Project, Role
from tests.cli.run import berth
from tests.fixtures.builds import python_bundle_files, tar_gz
from tests.fixtures.people import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def bundle_dir(root: Path, files: dict[str, str] | None = None) -> Path:
    """An iris bundle as a person keeps it on disk, with the clutter a real folder has."""
    root.mkdir()
    for name, content in (files or python_bundle_files()).items():
        (root / name).write_text(content)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00stale")
    return root


def test_alice_creates_a_model_builds_a_directory_and_sees_the_ready_build(live_console, celery_worker, project,
                                                                            alice, tmp_path):
    token = token_for(alice)

    created = berth("models", "create", "--model-id", "churn", "--name", "Churn", "--project", "fraud",
                    url=live_console, token=token)
    built = berth("models", "build", "--model-id", "churn", str(bundle_dir(tmp_path / "iris")), "--wait",
                  url=live_console, token=token)
    listed = berth("builds", "list", "--model-id", "churn", url=live_console, token=token)

    assert created.code == 0
    assert "Created model churn in project fraud" in created.out
    assert built.code == 0, built.err
    build = Build.objects.get(model__model_id="churn")
    assert build.status == BuildStatus.READY
    assert build.source_name == "iris.tar.gz"
    assert f"Build {build.build_id} is ready." in built.out
    header, row = listed.out.splitlines()
    assert header.split()[:4] == ["BUILD_ID", "LABEL", "STATUS", "FRAMEWORK"]
    assert row.split()[:5] == [str(build.build_id), "-", "ready", "python", "iris.tar.gz"]


def test_a_failing_build_with_wait_exits_non_zero_saying_why(live_console, celery_worker, iris_model, alice,
                                                             tmp_path):
    broken = python_bundle_files(model_code=(
        "from berth import BerthModel\n"
        "class IrisClassifier(BerthModel):\n"
        "    def predict(self, df):\n"
        "        raise ValueError('petal_width must be positive')\n"
    ))

    result = berth("models", "build", "--model-id", "iris", str(bundle_dir(tmp_path / "b", broken)), "--wait",
                   url=live_console, token=token_for(alice))

    assert result.code == 1
    assert result.err.startswith("berth: error: build ")
    assert "petal_width must be positive" in result.err


def test_an_archive_is_sent_as_it_is_and_shown_by_id(live_console, iris_model, alice, tmp_path):
    archive = tmp_path / "iris-v3.tar.gz"
    archive.write_bytes(tar_gz(python_bundle_files()))
    token = token_for(alice)

    uploaded = berth("models", "build", "--model-id", "iris", str(archive), "--json", url=live_console, token=token)
    build_id = uploaded.json()["build_id"]
    shown = berth("builds", "show", build_id, url=live_console, token=token)

    assert uploaded.code == 0
    assert Build.objects.get().source_name == "iris-v3.tar.gz"
    assert Build.objects.get().sha256 == uploaded.json()["sha256"]
    assert shown.code == 0
    assert build_id in shown.out
    assert "iris-v3.tar.gz" in shown.out


def test_a_single_model_file_needs_a_framework(live_console, iris_model, alice, iris_joblib):
    token = token_for(alice)

    refused = berth("models", "build", "--model-id", "iris", str(iris_joblib), url=live_console, token=token)
    accepted = berth("models", "build", "--model-id", "iris", str(iris_joblib), "--framework", "sklearn",
                     "--example-input", '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, '
                                        '"petal_width": 0.2}', url=live_console, token=token)

    assert refused.code == 1
    assert "--framework" in refused.err
    assert accepted.code == 0, accepted.err
    assert Build.objects.get().framework == "sklearn"


def test_projects_are_created_and_listed_as_a_table_or_json(live_console, project, alice):
    token = token_for(alice)

    created = berth("projects", "create", "--slug", "vision", "--name", "Vision team", url=live_console, token=token)
    table = berth("projects", "list", url=live_console, token=token)
    data = berth("projects", "list", "--json", url=live_console, token=token)

    assert created.code == 0
    assert Project.objects.get(slug="vision").role_of(alice) == Role.ADMIN
    assert table.out.splitlines()[0].split() == ["SLUG", "NAME", "ROLE", "DESCRIPTION"]
    assert [(p["slug"], p["role"]) for p in data.json()] == [("fraud", "admin"), ("vision", "admin")]


def test_models_list_filters_by_project(live_console, iris_model, alice):
    Project.objects.create(slug="empty", name="Empty").memberships.create(user=alice, role=Role.ADMIN)
    token = token_for(alice)

    assert [m["model_id"] for m in berth("models", "list", "--json", url=live_console, token=token).json()] == ["iris"]
    assert berth("models", "list", "--project", "empty", url=live_console, token=token).out.strip() == "(none)"


def test_bad_input_is_one_line_naming_the_field(live_console, iris_model, alice):
    result = berth("models", "create", "--model-id", "iris", "--name", "Again", "--project", "fraud",
                   url=live_console, token=token_for(alice))

    assert result.code == 1
    assert result.err == "berth: error: model_id: Model ID 'iris' is not available; choose another.\n"


def test_a_viewer_reads_but_cannot_build(live_console, iris_model, bob, tmp_path):
    token = token_for(bob)

    listed = berth("builds", "list", "--model-id", "iris", url=live_console, token=token)
    built = berth("models", "build", "--model-id", "iris", str(bundle_dir(tmp_path / "iris")),
                  url=live_console, token=token)

    assert listed.code == 0
    assert listed.out.strip() == "(none)"
    assert built.code == 1
    assert "needs the deployer role" in built.err
    assert not Build.objects.exists()


def test_without_a_token_it_says_how_to_create_one(live_console):
    result = berth("projects", "list", url=live_console, token=None)

    assert result.code == 1
    assert "BERTH_TOKEN is not set" in result.err
    assert f"{live_console}/settings/tokens/" in result.err
    assert "BERTH_URL is not set" not in result.err


def test_without_a_token_or_a_url_it_says_which_address_it_assumed():
    result = berth("projects", "list", url=None, token=None)

    assert result.code == 1
    assert "BERTH_TOKEN is not set" in result.err
    assert "BERTH_URL is not set either, so this uses http://127.0.0.1:8000" in result.err


def test_a_revoked_token_is_refused(live_console, alice):
    token = token_for(alice)
    ApiToken.objects.get(user=alice).revoke()

    result = berth("projects", "list", url=live_console, token=token)

    assert result.code == 1
    assert "unknown or revoked" in result.err


def test_an_unreachable_console_is_one_line(alice):
    result = berth("projects", "list", url="http://127.0.0.1:9", token="berth_x")  # noqa: S106 - never sent anywhere

    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "Cannot reach Berth" in result.err


def test_charlie_cannot_read_or_change_another_projects_models_or_builds(live_console, iris_model, other_project,
                                                                          charlie, tmp_path):
    build = Build.objects.create(model=iris_model, status=BuildStatus.READY, source_name="iris.tar.gz")
    token = token_for(charlie)

    def run(*args: str) -> tuple[int, str]:
        result = berth(*args, url=live_console, token=token)
        return result.code, result.err

    assert berth("models", "list", "--json", url=live_console, token=token).json() == []
    code, err = run("builds", "list", "--model-id", "iris")
    assert code == 1
    assert "not found" in err
    code, err = run("builds", "show", str(build.build_id))
    assert code == 1
    assert "not found" in err
    code, err = run("models", "build", "--model-id", "iris", str(bundle_dir(tmp_path / "iris")))
    assert code == 1
    assert "not found" in err
    code, err = run("models", "create", "--model-id", "sneaky", "--name", "Sneaky", "--project", "fraud")
    assert code == 1
    assert "no project with slug fraud" in err
    assert list(Build.objects.all()) == [build]
    assert not Model.objects.filter(model_id="sneaky").exists()


def test_the_same_folder_again_is_refused_naming_its_build_and_taken_on_purpose_with_a_label(
        live_console, iris_model, alice, tmp_path):
    token = token_for(alice)
    folder = bundle_dir(tmp_path / "iris")

    first = berth("models", "build", "--model-id", "iris", str(folder), "--label", "v1", "--tag", "baseline",
                  "--json", url=live_console, token=token)
    (folder / "model.py").touch()  # a new modification time, the same files
    again = berth("models", "build", "--model-id", "iris", str(folder), url=live_console, token=token)
    on_purpose = berth("models", "build", "--model-id", "iris", str(folder), "--allow-duplicate", "--label", "v1-rerun",
                       url=live_console, token=token)
    listed = berth("builds", "list", "--model-id", "iris", url=live_console, token=token)

    assert first.code == 0, first.err
    assert first.json()["label"] == "v1"
    assert first.json()["tags"] == ["baseline"]
    assert again.code == 1
    assert first.json()["build_id"][:8] in again.err
    assert on_purpose.code == 0, on_purpose.err
    assert sorted(Build.objects.values_list("label", flat=True)) == ["v1", "v1-rerun"]
    assert "v1-rerun" in listed.out
