"""A member of one project cannot read or change another project's models or builds.

Charlie is admin of *growth* (model `ltv`); alice's project *fraud* has model `iris` with a build.
Through every door — UI pages and forms, the live builds socket, the REST API, the `berth` CLI —
charlie gets "not found" for fraud's things, fraud never appears in his lists, and nothing of
fraud changes. Each door is also shown to work for charlie's own project, so a 404 here means
"not yours", not "broken".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Build, BuildStatus, Invitation, Membership, Model, Project, Role
from tests.api.client import api_as, results
from tests.cli.run import berth
from tests.fixtures.builds import python_bundle_files, tar_gz
from tests.fixtures.people import logged_in, token_for
from tests.test_build_consumer import builds_socket, session_headers

IRIS_BUILD = "00000000-0000-4000-8000-000000000001"
LTV_BUILD = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def two_teams(iris_model: Model, other_project: Project, alice: User) -> None:
    Build.objects.create(build_id=IRIS_BUILD, model=iris_model, status=BuildStatus.READY,
                         source_name="iris.tar.gz", created_by=alice, log="fraud's validation log")
    ltv = Model.objects.create(project=other_project, model_id="ltv", name="Lifetime value")
    Build.objects.create(build_id=LTV_BUILD, model=ltv, status=BuildStatus.READY, source_name="ltv.tar.gz")
    Invitation.objects.create(project=iris_model.project, invitee="someone", role=Role.VIEWER, invited_by=alice)


def fraud_state() -> list[object]:
    """Everything charlie might try to change in fraud, to compare before and after."""
    project = Project.objects.get(slug="fraud")
    return [
        (project.name, project.description),
        sorted(project.memberships.values_list("user__username", "role")),
        sorted(Invitation.objects.filter(project=project).values_list("invitee", "role")),
        sorted(Model.objects.filter(project=project).values_list("model_id", "name", "description")),
        sorted(Build.objects.filter(model__project=project).values_list("build_id", "status")),
    ]


def real_url(url: str) -> str:
    """Fill in the ids of a real membership and invitation of fraud, so a 404 cannot come from a made-up id."""
    alice_in_fraud = Membership.objects.get(project__slug="fraud", user__username="alice").pk
    invitation = Invitation.objects.get(project__slug="fraud").pk
    return url.format(alice_in_fraud=alice_in_fraud, invitation=invitation)


def a_bundle() -> SimpleUploadedFile:
    return SimpleUploadedFile("iris.tar.gz", tar_gz(python_bundle_files()))


# --- UI ---------------------------------------------------------------------------------

UI_READS = [
    "/projects/fraud/",
    "/projects/fraud/models/new/",
    "/models/iris/",
    f"/models/iris/builds/{IRIS_BUILD}/",
    f"/models/ltv/builds/{IRIS_BUILD}/",  # fraud's build under charlie's own model
]
UI_WRITES = [
    ("/projects/fraud/models/new/", {"model_id": "sneaky", "name": "Sneaky"}),
    ("/projects/fraud/invite/", {"invitee": "charlie", "role": "admin"}),
    ("/projects/fraud/members/{alice_in_fraud}/role/", {"role": "viewer"}),
    ("/projects/fraud/members/{alice_in_fraud}/remove/", {}),
    ("/projects/fraud/invitations/{invitation}/revoke/", {}),
    ("/models/iris/builds/upload/", {"file": a_bundle}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", UI_READS)
def test_ui_pages_of_another_project_are_not_found(two_teams, charlie, url):
    response = logged_in(charlie).get(url)

    assert response.status_code == 404
    assert "iris" not in response.content.decode()
    assert "Fraud team" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "form"), UI_WRITES, ids=[url for url, _ in UI_WRITES])
def test_ui_forms_cannot_change_another_project(two_teams, charlie, url, form):
    before = fraud_state()
    data = {key: value() if callable(value) else value for key, value in form.items()}

    assert logged_in(charlie).post(real_url(url), data).status_code == 404
    assert fraud_state() == before


@pytest.mark.django_db
def test_ui_lists_show_only_my_own_projects(two_teams, charlie):
    client = logged_in(charlie)

    projects = client.get("/projects/").content.decode()
    own_model = client.get("/models/ltv/").content.decode()

    assert "Growth team" in projects
    assert "Fraud team" not in projects
    assert LTV_BUILD in own_model
    assert IRIS_BUILD not in own_model


@pytest.mark.django_db(transaction=True)
def test_the_live_builds_socket_of_another_project_refuses_me(two_teams, charlie):
    headers = session_headers(charlie)

    async def connect(model_id: str) -> tuple[bool, int | None]:
        socket = builds_socket(model_id, headers)
        result = await socket.connect()
        await socket.disconnect()
        return result

    assert async_to_sync(connect)("iris") == (False, CLOSE_FORBIDDEN)
    assert async_to_sync(connect)("ltv")[0] is True


# --- REST API ---------------------------------------------------------------------------

API_READS = [
    "/api/v1/projects/fraud/",
    "/api/v1/projects/fraud/members/",
    "/api/v1/projects/fraud/invitations/",
    "/api/v1/models/iris/",
    "/api/v1/models/iris/builds/",
    f"/api/v1/builds/{IRIS_BUILD}/",
]
API_WRITES = [
    ("patch", "/api/v1/projects/fraud/", {"name": "Mine now"}),
    ("delete", "/api/v1/projects/fraud/", None),
    ("post", "/api/v1/projects/fraud/invitations/", {"invitee": "charlie", "role": "admin"}),
    ("delete", "/api/v1/projects/fraud/invitations/{invitation}/", None),
    ("patch", "/api/v1/projects/fraud/members/{alice_in_fraud}/", {"role": "viewer"}),
    ("delete", "/api/v1/projects/fraud/members/{alice_in_fraud}/", None),
    ("patch", "/api/v1/models/iris/", {"name": "Mine now"}),
    ("patch", "/api/v1/models/iris/", {"project": "growth"}),
    ("delete", "/api/v1/models/iris/", None),
    ("post", "/api/v1/models/iris/builds/", {"file": a_bundle}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", API_READS)
def test_api_objects_of_another_project_are_not_found(two_teams, charlie, url):
    response = api_as(charlie).get(url)

    assert response.status_code == 404
    assert "fraud's validation log" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "body"), API_WRITES, ids=[f"{m} {u} {sorted(b) if b else b}" for m, u, b in API_WRITES])
def test_api_writes_to_another_project_are_not_found_and_change_nothing(two_teams, charlie, method, url, body):
    before = fraud_state()
    data = {key: value() if callable(value) else value for key, value in (body or {}).items()}
    send = getattr(api_as(charlie), method)

    response = send(real_url(url), data, format="multipart" if "file" in data else "json")

    assert response.status_code == 404
    assert fraud_state() == before


@pytest.mark.django_db
def test_api_cannot_create_in_or_move_into_another_project(two_teams, charlie):
    before = fraud_state()
    client = api_as(charlie)

    created = client.post("/api/v1/models/", {"model_id": "sneaky", "name": "S", "project": "fraud"}, format="json")
    moved = client.patch("/api/v1/models/ltv/", {"project": "fraud"}, format="json")

    assert created.status_code == 400
    assert "no project with slug fraud" in created.json()["project"][0]
    assert moved.status_code == 400
    assert fraud_state() == before
    assert Model.objects.get(model_id="ltv").project.slug == "growth"


@pytest.mark.django_db
def test_api_lists_show_only_my_own_projects(two_teams, charlie):
    client = api_as(charlie)

    assert [p["slug"] for p in results(client.get("/api/v1/projects/"))] == ["growth"]
    assert [m["model_id"] for m in results(client.get("/api/v1/models/"))] == ["ltv"]
    assert [m["model_id"] for m in results(client.get("/api/v1/models/", {"project": "fraud"}))] == []
    assert [b["build_id"] for b in results(client.get("/api/v1/builds/"))] == [LTV_BUILD]
    assert results(client.get("/api/v1/builds/", {"model_id": "iris"})) == []


# --- CLI --------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_cli_finds_nothing_of_another_project_and_changes_nothing(live_console, two_teams, charlie,
                                                                       tmp_path: Path):
    bundle = tmp_path / "iris"
    bundle.mkdir()
    for name, content in python_bundle_files().items():
        (bundle / name).write_text(content)
    token = token_for(charlie)
    before = fraud_state()

    def cli(*args: str) -> tuple[int, str, str]:
        result = berth(*args, url=live_console, token=token)
        return result.code, result.out, result.err

    assert cli("projects", "list", "--json")[1].count('"slug"') == 1  # growth only
    assert "iris" not in cli("models", "list")[1]
    assert cli("models", "list", "--project", "fraud")[1].strip() == "(none)"
    for attempt in (("builds", "list", "--model-id", "iris"),
                    ("builds", "show", IRIS_BUILD),
                    ("models", "build", "--model-id", "iris", str(bundle))):
        code, _, err = cli(*attempt)
        assert code == 1, attempt
        assert "not found" in err, attempt
    code, _, err = cli("models", "create", "--model-id", "sneaky", "--name", "S", "--project", "fraud")
    assert code == 1
    assert "no project with slug fraud" in err
    assert cli("builds", "list", "--model-id", "ltv")[1].count(LTV_BUILD) == 1  # my own still work
    assert fraud_state() == before
