"""Saved cases over the REST API: what a script or a promotion gate uses, with the tab's own rules.

The gateway is a small real HTTP server standing in for a deployment's (tests/fixtures/stand_in_gateway.py);
the real gateway and replica answer saved cases in tests/views/test_predict_tab_real_gateway.py.
"""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Model, SavedCase
from tests.api.client import api_as
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(behind_stand_in: Deployment) -> Deployment:
    return behind_stand_in


def cases_url(deployment: Deployment, rest: str = "") -> str:
    return f"/api/v1/deployments/{deployment.pk}/cases/{rest}"


def test_a_deployer_saves_a_case_and_a_viewer_lists_it(deployer, bob, deployment):
    saved = api_as(deployer).post(cases_url(deployment), {"name": "setosa", "request": [IRIS_ROW],
                                                          "expected": [{"species": 0}]}, format="json")
    listed = api_as(bob).get(cases_url(deployment))

    assert saved.status_code == 201, saved.json()
    assert saved.json()["tolerance"] == 0.0
    assert saved.json()["created_by"] == "dave"
    assert [(c["name"], c["request"], c["expected"]) for c in listed.json()] == [
        ("setosa", [IRIS_ROW], [{"species": 0}])]


def test_running_the_cases_says_pass_or_fail_per_case_with_the_difference(bob, deployment, gateway):
    gateway.answer = (200, [{"species": 0, "score": 0.3000001}])
    for name, expected, tolerance in (("close", [{"species": 0, "score": 0.3}], 1e-6),
                                      ("wrong", [{"species": 1, "score": 0.3000001}], 0.0)):
        SavedCase.objects.create(deployment=deployment, name=name, request=[IRIS_ROW], expected=expected,
                                 tolerance=tolerance)

    run = api_as(bob).post(cases_url(deployment, "run/"), {"variation": "default"}, format="json")

    assert run.status_code == 200, run.json()
    body = run.json()
    assert (body["ran"], body["passed"], body["failed"], body["variation"]) == (2, 1, 1, "default")
    by_name = {r["name"]: r for r in body["results"]}
    assert by_name["close"]["passed"] is True
    assert by_name["close"]["differences"] == []
    assert by_name["wrong"]["passed"] is False
    assert by_name["wrong"]["differences"] == ["$[0].species: expected 1, got 0"]
    assert by_name["wrong"]["served_by"] == "default"
    assert [path for path, _ in gateway.received] == ["/v1/models/iris/default/predict"] * 2


def test_a_case_whose_request_the_model_refuses_fails_with_the_models_words(bob, deployment, gateway):
    gateway.answer = (422, {"error": "missing field 'petal_width' in row 1", "status": 422})
    SavedCase.objects.create(deployment=deployment, name="short", request=[{"sepal_length": 5.1}],
                             expected=[{"species": 0}])

    result = api_as(bob).post(cases_url(deployment, "run/"), {}, format="json").json()["results"][0]

    assert (result["passed"], result["status"]) == (False, 422)
    assert result["differences"] == ["HTTP 422: missing field 'petal_width' in row 1"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"request": [IRIS_ROW], "expected": []}, "name", "required"),
    ({"name": "x", "expected": []}, "request", "required"),
    ({"name": "x", "request": [IRIS_ROW], "expected": [], "tolerance": -1}, "tolerance", "greater than or equal to 0"),
    ({"name": "x", "request": [IRIS_ROW], "expected": [], "tolerance": "1e-6"}, "tolerance", "a number"),
    ({"name": 5, "request": [IRIS_ROW], "expected": []}, "name", "text"),
    ({"name": " " * 100 + "x", "request": [IRIS_ROW], "expected": []}, "name", "no more than 100 characters"),
])
def test_a_bad_case_is_refused_with_the_field_named_and_nothing_is_saved(deployer, deployment, body, field, words):
    refused = api_as(deployer).post(cases_url(deployment), body, format="json")

    assert refused.status_code == 400
    assert words in " ".join(refused.json()[field])
    assert not SavedCase.objects.exists()


def test_a_second_case_of_the_same_name_is_refused(deployer, deployment):
    case = {"name": "setosa", "request": [IRIS_ROW], "expected": [{"species": 0}]}
    api_as(deployer).post(cases_url(deployment), case, format="json")

    again = api_as(deployer).post(cases_url(deployment), case, format="json")

    assert again.status_code == 400
    assert again.json()["name"] == ["This deployment already has a case named 'setosa'."]


def test_running_against_an_unknown_variation_is_refused_without_calling_the_gateway(bob, deployment, gateway):
    SavedCase.objects.create(deployment=deployment, name="c", request=[IRIS_ROW], expected=[{"species": 0}])

    refused = api_as(bob).post(cases_url(deployment, "run/"), {"variation": "nope"}, format="json")

    assert refused.status_code == 400
    assert refused.json()["variation"] == ["This deployment has no variation named 'nope'."]
    assert gateway.received == []


def test_a_deployer_deletes_a_case_and_a_viewer_may_not(deployer, bob, deployment):
    case = SavedCase.objects.create(deployment=deployment, name="c", request=[IRIS_ROW], expected=[{"species": 0}])

    as_viewer = api_as(bob).delete(cases_url(deployment, f"{case.pk}/"))
    as_deployer = api_as(deployer).delete(cases_url(deployment, f"{case.pk}/"))

    assert as_viewer.status_code == 403
    assert as_deployer.status_code == 204
    assert not SavedCase.objects.exists()


def test_a_viewer_may_not_save_a_case(bob, deployment):
    refused = api_as(bob).post(cases_url(deployment), {"name": "x", "request": [IRIS_ROW], "expected": []},
                               format="json")

    assert refused.status_code == 403
    assert not SavedCase.objects.exists()


def test_an_outsider_and_an_anonymous_caller_reach_nothing(charlie, deployment, gateway):
    case = SavedCase.objects.create(deployment=deployment, name="c", request=[IRIS_ROW], expected=[{"species": 0}])
    calls = [("get", cases_url(deployment)), ("post", cases_url(deployment)), ("post", cases_url(deployment, "run/")),
             ("get", cases_url(deployment, f"{case.pk}/")), ("delete", cases_url(deployment, f"{case.pk}/"))]

    outsider = [getattr(api_as(charlie), method)(url, {}, format="json").status_code for method, url in calls]
    anonymous = [getattr(api_as(None), method)(url, {}, format="json").status_code for method, url in calls]

    assert outsider == [404] * len(calls)
    assert anonymous == [401] * len(calls)
    assert gateway.received == []
    assert SavedCase.objects.count() == 1


def test_a_case_of_another_deployment_is_not_found_under_this_one(alice, deployment, project):
    wine = Model.objects.create(project=project, model_id="wine", name="Wine")
    other = serving_deployment(wine, variation(a_ready_build(wine)), user=alice)
    case = SavedCase.objects.create(deployment=other, name="c", request=[IRIS_ROW], expected=[{"species": 0}])

    answer = api_as(alice).get(cases_url(deployment, f"{case.pk}/"))

    assert answer.status_code == 404
    assert answer.json()["detail"] == f"Deployment {deployment.pk} has no saved case {case.pk}."


def test_a_run_with_no_body_runs_every_case_and_a_null_body_is_refused(bob, deployment, gateway):
    SavedCase.objects.create(deployment=deployment, name="c", request=[IRIS_ROW], expected=[{"species": 0}])

    empty = api_as(bob).post(cases_url(deployment, "run/"))
    null = api_as(bob).post(cases_url(deployment, "run/"), "null", content_type="application/json")

    assert (empty.status_code, empty.json()["passed"]) == (200, 1)
    assert null.status_code == 400
    assert len(gateway.received) == 1
