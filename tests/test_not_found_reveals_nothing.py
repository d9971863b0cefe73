"""A 404 says the same whether the object is missing or only in someone else's project."""

from __future__ import annotations

import re

import pytest

from deployments.models import Model
from tests.fixtures.people import logged_in, token_for

pytestmark = pytest.mark.django_db
# The 404 page is in the console's layout, whose CSRF token is masked afresh for each page.
CSRF_TOKEN = re.compile(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+')


def without_csrf_tokens(page: bytes) -> bytes:
    return CSRF_TOKEN.sub(rb"\1(token)", page)


@pytest.fixture
def growth_model(other_project) -> Model:
    return Model.objects.create(project=other_project, model_id="growth_model", name="Growth model")


@pytest.mark.parametrize(("existing", "missing"), [
    ("/api/v1/projects/growth/", "/api/v1/projects/no-such-project/"),
    ("/api/v1/models/growth_model/", "/api/v1/models/no_such_model/"),
])
def test_the_api_answers_an_outsider_as_if_the_object_did_not_exist(client, alice, growth_model, existing, missing):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(alice)}"}

    theirs, nothing = client.get(existing, **headers), client.get(missing, **headers)

    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == nothing.json()


@pytest.mark.parametrize(("existing", "missing"), [
    ("/projects/growth/", "/projects/no-such-project/"),
    ("/models/growth_model/", "/models/no_such_model/"),
])
def test_pages_answer_an_outsider_as_if_the_object_did_not_exist(alice, growth_model, existing, missing):
    client = logged_in(alice)

    theirs, nothing = client.get(existing), client.get(missing)

    assert theirs.status_code == nothing.status_code == 404
    assert without_csrf_tokens(theirs.content) == without_csrf_tokens(nothing.content)
