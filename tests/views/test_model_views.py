"""Model pages: create a model in a project, and the model page with its builds."""

from __future__ import annotations

import pytest
from django.test import Client

from deployments.models import Build, BuildStatus, Membership, Model, Role
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

CHURN = {"model_id": "churn_model", "name": "Churn", "description": "Who leaves next month"}


@pytest.mark.parametrize("url", ["/projects/fraud/models/new/", "/models/iris/"])
def test_an_anonymous_visitor_is_sent_to_log_in(iris_model, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_an_anonymous_post_creates_nothing(project):
    response = Client().post("/projects/fraud/models/new/", CHURN)

    assert response.status_code == 302
    assert not Model.objects.exists()


def test_an_admin_creates_a_model_and_lands_on_its_page(project, alice):
    response = logged_in(alice).post("/projects/fraud/models/new/", CHURN, follow=True)

    assert response.redirect_chain == [("/models/churn_model/", 302)]
    assert "Model churn_model created" in response.content.decode()
    assert Model.objects.get(model_id="churn_model").project == project


def test_a_deployer_creates_a_model(project, charlie):
    Membership.objects.create(project=project, user=charlie, role=Role.DEPLOYER)
    client = logged_in(charlie)

    assert client.get("/projects/fraud/models/new/").status_code == 200
    assert client.post("/projects/fraud/models/new/", CHURN).status_code == 302
    assert Model.objects.filter(model_id="churn_model").exists()


def test_a_duplicate_or_invalid_model_id_is_explained_and_nothing_is_created(iris_model, alice):
    client = logged_in(alice)

    duplicate = client.post("/projects/fraud/models/new/", CHURN | {"model_id": "iris"})
    invalid = client.post("/projects/fraud/models/new/", CHURN | {"model_id": "Churn Model"})

    assert duplicate.status_code == 400
    assert "Model ID &#x27;iris&#x27; is not available; choose another." in duplicate.content.decode()
    assert invalid.status_code == 400
    assert "lowercase letters" in invalid.content.decode()
    assert list(Model.objects.values_list("model_id", flat=True)) == ["iris"]


def test_a_viewer_cannot_open_or_post_the_new_model_form(project, bob):
    client = logged_in(bob)

    assert client.get("/projects/fraud/models/new/").status_code == 403
    assert client.post("/projects/fraud/models/new/", CHURN).status_code == 403
    assert not Model.objects.exists()


def test_an_outsider_cannot_create_a_model_in_another_project(project, other_project, charlie):
    client = logged_in(charlie)

    assert client.get("/projects/fraud/models/new/").status_code == 404
    assert client.post("/projects/fraud/models/new/", CHURN).status_code == 404
    assert not Model.objects.exists()


def test_an_admin_sees_builds_and_the_upload_form(iris_model, alice):
    build = Build.objects.create(model=iris_model, status=BuildStatus.READY, framework="python",
                                 source_name="iris.tar.gz", created_by=alice)

    page = logged_in(alice).get("/models/iris/").content.decode()

    assert f"/models/iris/builds/{build.build_id}/" in page
    assert "iris.tar.gz" in page
    assert "by alice" in page
    assert 'action="/models/iris/builds/upload/"' in page


def test_a_viewer_sees_builds_but_no_upload_form(iris_model, bob):
    Build.objects.create(model=iris_model, status=BuildStatus.FAILED, source_name="broken.zip",
                         error="predict raised ValueError")

    response = logged_in(bob).get("/models/iris/")
    page = response.content.decode()

    assert response.status_code == 200
    assert "broken.zip" in page
    assert "predict raised ValueError" in page
    assert "/builds/upload/" not in page
    assert 'type="file"' not in page


def test_a_model_without_builds_says_so(iris_model, alice):
    assert "No builds yet" in logged_in(alice).get("/models/iris/").content.decode()


def test_an_outsider_gets_not_found_for_another_projects_model(iris_model, other_project, charlie):
    assert logged_in(charlie).get("/models/iris/").status_code == 404


def test_an_unknown_model_is_not_found(project, alice):
    assert logged_in(alice).get("/models/nope/").status_code == 404


def test_the_model_page_takes_the_same_queries_for_one_or_many_builds(iris_model, alice, bob,
                                                                      django_assert_max_num_queries):
    for n in range(12):
        Build.objects.create(model=iris_model, status=BuildStatus.READY, source_name=f"b{n}.zip",
                             created_by=alice if n % 2 else bob)
    client = logged_in(alice)

    with django_assert_max_num_queries(6):  # one of them for the deployments' status badges
        page = client.get("/models/iris/").content.decode()

    assert page.count('href="/models/iris/builds/') == 12


def test_without_a_ready_build_the_model_page_offers_an_upload_not_a_deploy(iris_model, alice):
    Build.objects.create(model=iris_model, status=BuildStatus.FAILED, source_name="broken.zip")

    page = logged_in(alice).get("/models/iris/").content.decode()

    assert 'id="deploy-model"' not in page
    assert '<a class="button" id="upload-first" href="#upload-build">Upload a build</a>' in page


def test_the_model_page_shows_each_deployments_stored_status(iris_model, alice):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)), user=alice)

    page = logged_in(alice).get("/models/iris/").content.decode()

    assert 'id="deploy-model"' in page
    assert f'id="deployment-status-{deployment.pk}"' in page
    assert 'data-status="running">production: Running</span>' in page
