"""Project and model lists show each deployment's stored status as a badge."""

from __future__ import annotations

import pytest
from django.test import Client

from deployments.models import Deployment, DeploymentStatus, Model, Project
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


def a_deployment(model: Model, environment: str, status: str) -> Deployment:
    return Deployment.objects.create(model=model, environment=environment, status=status)


@pytest.fixture
def deployments(iris_model: Model, project: Project) -> list[Deployment]:
    churn = Model.objects.create(project=project, model_id="churn", name="Churn")
    return [a_deployment(iris_model, "production", DeploymentStatus.RUNNING),
            a_deployment(iris_model, "staging", DeploymentStatus.DEGRADED),
            a_deployment(churn, "production", DeploymentStatus.RUNNING),
            a_deployment(churn, "staging", DeploymentStatus.STOPPED)]


def test_the_project_list_counts_the_projects_deployments_by_status(deployments, bob):
    html = logged_in(bob).get("/projects/").content.decode()

    assert '<span class="badge running" data-status="running">2 running</span>' in html
    assert '<span class="badge degraded" data-status="degraded">1 degraded</span>' in html
    assert '<span class="badge stopped" data-status="stopped">1 stopped</span>' in html


def test_the_project_list_counts_only_the_viewers_projects(deployments, other_project, charlie, alice):
    theirs = Model.objects.create(project=other_project, model_id="ltv", name="LTV")
    a_deployment(theirs, "production", DeploymentStatus.FAILED)

    mine = logged_in(alice).get("/projects/").content.decode()
    charlies = logged_in(charlie).get("/projects/").content.decode()

    assert "failed" not in mine
    assert '<span class="badge failed" data-status="failed">1 failed</span>' in charlies
    assert "running" not in charlies


def test_a_project_without_deployments_says_none(project, alice):
    html = logged_in(alice).get("/projects/").content.decode()

    assert '<td class="deployment-statuses"><span class="muted">none</span></td>' in html


def test_the_project_page_shows_each_models_deployments_with_their_status(deployments, bob):
    html = logged_in(bob).get("/projects/fraud/").content.decode()

    production, staging = deployments[0], deployments[1]
    assert (f'<a href="/deployments/{production.pk}/" class="deployment-status-link" '
            f'id="deployment-status-{production.pk}"><span class="badge running" data-status="running">'
            "production: Running</span></a>") in html
    assert '<span class="badge degraded" data-status="degraded">staging: Degraded</span>' in html
    assert f'id="deployment-status-{staging.pk}"' in html
    assert '<span class="badge stopped" data-status="stopped">staging: Stopped</span>' in html


def test_a_model_never_deployed_says_so_on_the_project_page(iris_model, alice):
    html = logged_in(alice).get("/projects/fraud/").content.decode()

    assert "not deployed" in html


def test_lists_show_the_stored_status_as_the_one_writer_left_it(deployments, alice):
    Deployment.objects.filter(pk=deployments[0].pk).update(status=DeploymentStatus.FAILED)

    listing = logged_in(alice).get("/projects/").content.decode()
    project = logged_in(alice).get("/projects/fraud/").content.decode()

    assert "1 failed" in listing
    assert "production: Failed" in project


def test_status_badges_need_a_login_and_a_membership(deployments, other_project, charlie):
    assert Client().get("/projects/")["Location"].startswith("/login/")
    assert logged_in(charlie).get("/projects/fraud/").status_code == 404


def test_the_lists_take_a_fixed_number_of_queries(deployments, project, alice, django_assert_max_num_queries):
    for i in range(5):
        model = Model.objects.create(project=project, model_id=f"extra{i}", name=f"Extra {i}")
        a_deployment(model, "production", DeploymentStatus.FAILED)
    client = logged_in(alice)

    with django_assert_max_num_queries(6):
        client.get("/projects/")
    with django_assert_max_num_queries(8):
        client.get("/projects/fraud/")
