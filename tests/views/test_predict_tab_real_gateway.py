"""The Prediction tab against a real deployment: supervisord, the gateway and an iris model-server replica."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from deployments.models import Deployment, PredictionCall, RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.people import logged_in
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def iris_serving(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    from deployments.models.instance_type import ensure_catalog

    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    yield rollout.deployment
    from deployments.backends.base import get_backend

    get_backend().delete(rollout.deployment)


def predict(user: Any, deployment: Deployment, body: Any, variation: str = "") -> str:
    response = logged_in(user).post(f"/deployments/{deployment.pk}/predict/",
                                    {"body": json.dumps(body), "variation": variation})
    assert response.status_code == 200
    return response.content.decode()


def test_a_prediction_from_the_tab_returns_the_models_answer_and_a_bad_input_the_gateways_422(bob, iris_serving):
    answered = predict(bob, iris_serving, [IRIS_ROW])
    refused = predict(bob, iris_serving, [{"sepal_length": 5.1}], variation="default")

    assert 'id="predict-status">HTTP 200' in answered
    assert re.search(r"&quot;species&quot;: 0\b", answered), answered.split('id="predict-result"')[1][:800]
    assert 'id="predict-served-by">default' in answered
    request_id = re.search(r'id="predict-request-id">([^<]+)<', answered)
    assert request_id
    assert request_id.group(1) != "—"
    assert 'id="predict-status">HTTP 422' in refused
    assert re.search(r'id="predict-error" role="alert">missing field &#x27;\w+&#x27; in row 1', refused)
    calls = list(PredictionCall.objects.filter(user=bob).order_by("created_at"))
    assert [(c.status_code, c.served_by) for c in calls] == [(200, "default"), (422, "default")]


def test_a_saved_case_passes_and_a_changed_expectation_fails(alice, iris_serving):
    client, base = logged_in(alice), f"/deployments/{iris_serving.pk}/predict/"
    page = predict(alice, iris_serving, [IRIS_ROW])
    answer = json.loads(PredictionCall.objects.get().response_body)
    wrong = json.loads(json.dumps(answer).replace('"species": 0', '"species": 2'))
    assert wrong != answer, page
    client.post(base + "cases/", {"name": "setosa", "body": json.dumps([IRIS_ROW]), "expected": json.dumps(answer)})
    client.post(base + "cases/", {"name": "changed", "body": json.dumps([IRIS_ROW]), "expected": json.dumps(wrong)})

    ran = client.post(base + "cases/run/", {"variation": "default"}).content.decode()

    assert "1 of 2 passed" in ran
    assert 'data-case="setosa" data-result="pass"' in ran
    assert 'data-case="changed" data-result="fail"' in ran
    assert "expected 2, got 0" in ran
