"""Model IDs are global, so a taken one must not say where: the same words whether it is taken in your
project or in one you cannot see, on the page and in the API alike, and even when a concurrent create
takes it between the check and the insert.
"""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError

from deployments.models import Model
from deployments.models.model import create_model
from tests.api.client import api_as
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

NOT_AVAILABLE = "Model ID '{}' is not available; choose another."


def ui_create(user, slug: str, model_id: str) -> tuple[int, str]:
    response = logged_in(user).post(f"/projects/{slug}/models/new/", {"model_id": model_id, "name": "Mine"})
    return response.status_code, html.unescape(response.content.decode())


def api_create(user, slug: str, model_id: str) -> tuple[int, str]:
    response = api_as(user).post("/api/v1/models/", {"model_id": model_id, "name": "Mine", "project": slug},
                                 format="json")
    return response.status_code, " ".join(response.json().get("model_id", []))


@pytest.mark.parametrize("through", [ui_create, api_create])
def test_an_id_taken_in_another_project_reads_as_one_taken_in_yours(iris_model, other_project, alice, charlie,
                                                                    through):
    Model.objects.create(project=other_project, model_id="churn", name="Theirs")

    mine = through(alice, "fraud", "churn")      # taken in a project alice cannot see
    theirs = through(charlie, "growth", "iris")  # taken in a project charlie cannot see
    own = through(alice, "fraud", "iris")        # taken in alice's own project

    assert [status for status, _ in (mine, theirs, own)] == [400, 400, 400]
    assert NOT_AVAILABLE.format("churn") in mine[1]
    assert NOT_AVAILABLE.format("iris") in theirs[1]
    assert NOT_AVAILABLE.format("iris") in own[1]
    assert "already exists" not in mine[1] + theirs[1] + own[1]
    assert Model.objects.count() == 2


def test_an_id_taken_by_a_concurrent_create_gets_the_same_words_not_a_500(iris_model, other_project):
    with pytest.raises(ValidationError) as refused:
        create_model(other_project, model_id="iris", name="Raced")

    assert refused.value.messages == [NOT_AVAILABLE.format("iris")]
    assert Model.objects.filter(model_id="iris").count() == 1
