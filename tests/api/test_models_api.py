"""`/api/v1/models/`: list, create, read, edit and delete, for every persona."""

from __future__ import annotations

import pytest

from deployments.models import Membership, Model, Role
from tests.api.client import api_as, results
from tests.fixtures.deployments import a_ready_build, serving_deployment, undeployed_deployment, variation

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"


def new_model(project: str = "fraud", model_id: str = "churn_model") -> dict[str, str]:
    return {"model_id": model_id, "name": "Churn", "description": "Who leaves next month", "project": project}


def test_an_anonymous_caller_cannot_list_or_create_models(iris_model):
    client = api_as(None)

    assert client.get(MODELS).status_code == 401
    assert client.get(f"{MODELS}iris/").status_code == 401
    assert client.post(MODELS, new_model(), format="json").status_code == 401
    assert not Model.objects.filter(model_id="churn_model").exists()


def test_members_list_their_projects_models_only(iris_model, other_project, alice, bob, charlie):
    Model.objects.create(project=other_project, model_id="ltv", name="Lifetime value")

    assert [m["model_id"] for m in results(api_as(alice).get(MODELS))] == ["iris"]
    assert [m["model_id"] for m in results(api_as(bob).get(MODELS))] == ["iris"]
    assert [m["model_id"] for m in results(api_as(charlie).get(MODELS))] == ["ltv"]


def test_models_filter_by_project(iris_model, other_project, alice):
    Membership.objects.create(project=other_project, user=alice, role=Role.VIEWER)
    Model.objects.create(project=other_project, model_id="ltv", name="Lifetime value")
    client = api_as(alice)

    assert [m["model_id"] for m in results(client.get(MODELS, {"project": "growth"}))] == ["ltv"]
    assert [m["model_id"] for m in results(client.get(MODELS, {"project": "fraud"}))] == ["iris"]


def test_a_viewer_reads_a_model(iris_model, bob):
    response = api_as(bob).get(f"{MODELS}iris/")

    assert response.status_code == 200
    assert response.json() | {"created_at": None} == {
        "model_id": "iris", "name": "Iris classifier", "description": "", "project": "fraud", "created_at": None}


def test_an_outsider_gets_not_found_for_another_projects_model(iris_model, other_project, charlie):
    client = api_as(charlie)

    assert client.get(f"{MODELS}iris/").status_code == 404
    assert client.patch(f"{MODELS}iris/", {"name": "Mine"}, format="json").status_code == 404
    assert client.delete(f"{MODELS}iris/").status_code == 404
    iris_model.refresh_from_db()
    assert iris_model.name == "Iris classifier"


def test_an_outsider_cannot_create_a_model_in_another_project(project, other_project, charlie):
    response = api_as(charlie).post(MODELS, new_model(project="fraud"), format="json")

    assert response.status_code == 400
    assert "project" in response.json()
    assert not Model.objects.filter(model_id="churn_model").exists()


def test_a_viewer_cannot_create_edit_or_delete_models(iris_model, bob):
    client = api_as(bob)

    created = client.post(MODELS, new_model(), format="json")
    edited = client.patch(f"{MODELS}iris/", {"name": "Bob's"}, format="json")
    deleted = client.delete(f"{MODELS}iris/")

    assert (created.status_code, edited.status_code, deleted.status_code) == (403, 403, 403)
    assert "deployer" in created.json()["detail"]
    assert list(Model.objects.values_list("model_id", "name")) == [("iris", "Iris classifier")]


def test_an_admin_creates_a_model(project, alice):
    response = api_as(alice).post(MODELS, new_model(), format="json")

    assert response.status_code == 201, response.json()
    model = Model.objects.get(model_id="churn_model")
    assert (model.project, model.description) == (project, "Who leaves next month")


def test_a_deployer_creates_a_model(project, charlie):
    Membership.objects.create(project=project, user=charlie, role=Role.DEPLOYER)

    response = api_as(charlie).post(MODELS, new_model(), format="json")

    assert response.status_code == 201
    assert Model.objects.filter(model_id="churn_model", project=project).exists()


def test_a_duplicate_model_id_is_refused_naming_the_field(iris_model, other_project, charlie):
    response = api_as(charlie).post(MODELS, new_model(project="growth", model_id="iris"), format="json")

    assert response.status_code == 400
    assert response.json()["model_id"] == ["Model ID 'iris' is not available; choose another."]
    assert Model.objects.filter(model_id="iris").count() == 1


@pytest.mark.parametrize("model_id", ["Iris", "has space", "-leading-dash", "x" * 64, ""])
def test_an_invalid_model_id_is_refused_naming_the_field(project, alice, model_id):
    response = api_as(alice).post(MODELS, new_model(model_id=model_id), format="json")

    assert response.status_code == 400
    assert "model_id" in response.json()
    assert not Model.objects.exists()


def test_a_missing_project_is_refused_naming_the_field(project, alice):
    response = api_as(alice).post(MODELS, {"model_id": "churn_model", "name": "Churn"}, format="json")

    assert response.status_code == 400
    assert "project" in response.json()


def test_an_admin_edits_and_deletes_a_model(iris_model, alice):
    client = api_as(alice)

    assert client.patch(f"{MODELS}iris/", {"description": "Fisher's flowers"}, format="json").status_code == 200
    iris_model.refresh_from_db()
    assert iris_model.description == "Fisher's flowers"
    assert client.delete(f"{MODELS}iris/").status_code == 204
    assert not Model.objects.filter(model_id="iris").exists()


def test_a_model_cannot_move_to_another_project(iris_model, other_project, alice):
    Membership.objects.create(project=other_project, user=alice, role=Role.ADMIN)

    response = api_as(alice).patch(f"{MODELS}iris/", {"project": "growth"}, format="json")

    assert response.status_code == 400
    assert "another project" in response.json()["project"][0]
    iris_model.refresh_from_db()
    assert iris_model.project.slug == "fraud"


def test_listing_models_takes_the_same_queries_for_one_or_many(project, alice, django_assert_max_num_queries):
    for n in range(15):
        Model.objects.create(project=project, model_id=f"model-{n}", name=f"Model {n}")
    client = api_as(alice)

    with django_assert_max_num_queries(4):
        response = client.get(MODELS)

    assert len(results(response)) == 15


def test_a_deployed_model_is_not_deleted_and_the_answer_names_what_to_undeploy(iris_model, alice):
    build = a_ready_build(iris_model)
    production = serving_deployment(iris_model, variation(build))

    response = api_as(alice).delete(f"{MODELS}iris/")

    assert response.status_code == 409
    assert response.json() == {"detail": f"Model iris is still deployed: iris in production (deployment "
                                         f"{production.pk}). Undeploy first (POST /api/v1/deployments/<id>/undeploy/),"
                                         " then delete it."}
    assert Model.objects.filter(model_id="iris").exists()


def test_an_undeployed_model_is_deleted_with_its_stopped_deployment(iris_model, alice):
    undeployed_deployment(iris_model, variation(a_ready_build(iris_model)))

    assert api_as(alice).delete(f"{MODELS}iris/").status_code == 204
    assert not Model.objects.filter(model_id="iris").exists()


def test_the_model_id_cannot_change(iris_model, alice):
    response = api_as(alice).patch(f"{MODELS}iris/", {"model_id": "setosa", "name": "Setosa"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"model_id": ["A model ID cannot change."]}
    iris_model.refresh_from_db()
    assert (iris_model.model_id, iris_model.name) == ("iris", "Iris classifier")


def test_a_blank_name_is_refused(iris_model, alice):
    response = api_as(alice).patch(f"{MODELS}iris/", {"name": " "}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["This field may not be blank."]}
