"""POST /api/v1/deployments/<id>/traffic/: a whole traffic split in one request."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Deployment, Model, Rollout, RolloutAction
from deployments.rollouts.spec import DeploySpec
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, serving_deployment, undeployed_deployment, variation

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(iris_model: Model, alice) -> Deployment:
    """default serves 100%, challenger runs with 0%, and a shadow gets copies."""
    build = a_ready_build(iris_model)
    return serving_deployment(iris_model, variation(build, traffic_percent=100),
                              variation(build, name="challenger", traffic_percent=0),
                              variation(build, name="mirror", shadow=True, traffic_percent=0), user=alice)


def traffic(deployment: Deployment, user: Any, body: object) -> Any:
    return api_as(user).post(f"/api/v1/deployments/{deployment.pk}/traffic/", body, format="json")


def split_of(rollout_id: int) -> dict[str, int]:
    spec = DeploySpec.from_json(Rollout.objects.get(pk=rollout_id).spec)
    return {v.name: v.traffic_percent for v in spec.variations}


@pytest.mark.parametrize(("shares", "split"), [
    ({"default": 80, "challenger": 20}, {"default": 80, "challenger": 20, "mirror": 0}),
    ({"challenger": 30}, {"default": 70, "challenger": 30, "mirror": 0}),  # the one left out takes the rest
    ({"default": 0, "challenger": 100}, {"default": 0, "challenger": 100, "mirror": 0}),
])
def test_a_deployer_sets_the_whole_split_in_one_request(deployment, alice, shares, split):
    answer = traffic(deployment, alice, {"traffic": shares})

    assert answer.status_code == 202, answer.json()
    assert answer.json()["action"] == RolloutAction.DEPLOY
    assert split_of(answer.json()["id"]) == split
    assert deployment.rollouts.count() == 2


@pytest.mark.parametrize(("shares", "errors"), [
    ({"default": 80, "challenger": 30}, {"traffic": ["Shares must add up to 100% (these make 110%)."]}),
    ({"default": 100}, {"traffic": ["That is the split serving now (default 100%, challenger 0%)."]}),
    ({"nope": 50, "default": 101, "mirror": 50, "challenger": "half"}, {
        "traffic.nope": ["No variation 'nope'; this deployment has: default, challenger, mirror."],
        "traffic.default": ["Must be from 0 to 100 (got 101)."],
        "traffic.mirror": ["mirror is a shadow variation: it gets a copy of the traffic, no share."],
        "traffic.challenger": ["Use a whole number from 0 to 100."]}),
    ({}, {"traffic": ['Give the variations\' shares, e.g. {"default": 80, "challenger": 20}.']}),
    ([80, 20], {"traffic": ["Use an object of variation names and percents."]}),
])
def test_a_split_that_cannot_serve_is_refused_one_message_per_problem(deployment, alice, shares, errors):
    answer = traffic(deployment, alice, {"traffic": shares})

    assert answer.status_code == 400
    assert answer.json() == errors
    assert deployment.rollouts.count() == 1


def test_with_three_live_variations_one_share_is_not_enough(iris_model, alice):
    build = a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build, traffic_percent=50),
                                    variation(build, name="b", traffic_percent=25),
                                    variation(build, name="c", traffic_percent=25))

    answer = traffic(deployment, alice, {"traffic": {"default": 60}})

    assert answer.json() == {"traffic": ["Say how the remaining 40% is split between b and c."]}


def test_a_viewer_may_not_and_an_outsider_sees_nothing(deployment, bob, charlie, other_project):
    body = {"traffic": {"default": 50, "challenger": 50}}

    assert traffic(deployment, bob, body).status_code == 403
    assert traffic(deployment, charlie, body).status_code == 404
    assert traffic(deployment, None, body).status_code == 401
    assert deployment.rollouts.count() == 1


def test_nothing_serving_has_no_traffic_to_split(iris_model, alice):
    deployment = undeployed_deployment(iris_model, variation(a_ready_build(iris_model)))

    answer = traffic(deployment, alice, {"traffic": {"default": 100}})

    assert answer.status_code == 400
    assert answer.json() == {"detail": "Nothing is serving: deploy a build before splitting its traffic."}


def test_deploying_one_variation_with_a_share_leaves_the_rest_to_the_only_other_live_one(deployment, alice):
    answer = api_as(alice).post("/api/v1/models/iris/deploy/",
                                {"variation": {"name": "challenger", "traffic_percent": 20}}, format="json")

    assert answer.status_code == 202, answer.json()
    assert split_of(answer.json()["id"]) == {"default": 80, "challenger": 20, "mirror": 0}
