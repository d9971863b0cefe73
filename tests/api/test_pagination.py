"""Every API list is paginated alike, and a bad `limit` or `offset` is a 400 naming it, never a 500."""

from __future__ import annotations

import pytest

from deployments.api.pagination import MAX_LIMIT, MAX_OFFSET
from deployments.models import Deployment, Model
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(iris_model: Model, alice) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=2, user=alice)


def every_list(deployment: Deployment) -> list[str]:
    assert deployment.current_rollout is not None
    return ["/api/v1/projects/", "/api/v1/projects/fraud/members/", "/api/v1/models/", "/api/v1/models/iris/builds/",
            "/api/v1/builds/", "/api/v1/tokens/", "/api/v1/deployments/",
            f"/api/v1/deployments/{deployment.pk}/rollouts/", f"/api/v1/deployments/{deployment.pk}/events/",
            f"/api/v1/rollouts/{deployment.current_rollout.pk}/events/"]


BAD = [
    ({"limit": "9223372036854775808"}, "limit"),
    ({"limit": "9" * 5000}, "limit"),  # past what int() reads
    ({"limit": str(MAX_LIMIT + 1)}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": "٣"}, "limit"),  # a digit to int(), not to the schema
    ({"offset": "9223372036854775808"}, "offset"),
    ({"offset": str(MAX_OFFSET + 1)}, "offset"),
    ({"offset": "-5"}, "offset"),
    ({"offset": "null"}, "offset"),
]


@pytest.mark.parametrize(("query", "name"), BAD, ids=[f"{q}"[:40] for q, _ in BAD])
def test_a_bad_limit_or_offset_is_refused_on_every_list(deployment, alice, query, name):
    client = api_as(alice)

    for url in every_list(deployment):
        response = client.get(url, query)
        assert response.status_code == 400, (url, response.status_code)
        assert response.json() == {name: [f"Give {name} once, as a whole number from {1 if name == 'limit' else 0} to "
                                          f"{MAX_LIMIT if name == 'limit' else MAX_OFFSET}."]}, url


def test_a_repeated_limit_is_refused(deployment, alice):
    response = api_as(alice).get("/api/v1/models/?limit=1&limit=2")

    assert response.status_code == 400
    assert response.json() == {"limit": [f"Give limit once, as a whole number from 1 to {MAX_LIMIT}."]}


def test_every_list_answers_pages_within_the_bounds(deployment, alice):
    client = api_as(alice)

    for url in every_list(deployment):
        response = client.get(url, {"limit": str(MAX_LIMIT), "offset": str(MAX_OFFSET)})
        assert response.status_code == 200, url
        assert set(response.json()) == {"count", "next", "previous", "results"}, url
        assert response.json()["results"] == [], url


def test_the_lists_that_were_bare_arrays_are_pages_like_the_others(deployment, alice):
    client = api_as(alice)
    rollouts = f"/api/v1/deployments/{deployment.pk}/rollouts/"

    first = client.get(rollouts, {"limit": "1"}).json()
    second = client.get(first["next"]).json()

    assert first["count"] == 2
    assert [r["revision"] for r in first["results"] + second["results"]] == [2, 1]
    assert second["next"] is None
