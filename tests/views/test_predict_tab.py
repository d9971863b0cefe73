"""The Prediction tab's rules, against a small real HTTP server standing in for the gateway.

The real gateway and replica are in test_predict_tab_real_gateway.py; here the stand-in counts what
reaches it, so "refused before sending" is something a test can see.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployments.models import Deployment, PredictionCall, SavedCase
from deployments.prediction.cases import differences
from deployments.prediction.gateway import MAX_BODY_BYTES
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(behind_stand_in: Deployment) -> Deployment:
    return behind_stand_in


def predict(user: Any, deployment: Deployment, body: str, variation: str = "", **headers: Any) -> str:
    response = logged_in(user).post(f"/deployments/{deployment.pk}/predict/", {"body": body, "variation": variation},
                                    **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_tab_is_prefilled_with_the_builds_example_input_and_linked_from_the_page(bob, deployment):
    page = logged_in(bob).get(f"/deployments/{deployment.pk}/predict/").content.decode()
    overview = logged_in(bob).get(f"/deployments/{deployment.pk}/").content.decode()

    assert f'href="/deployments/{deployment.pk}/predict/"' in overview
    assert '<textarea name="body" id="predict-body"' in page
    assert "&quot;petal_width&quot;: 0.2" in page
    assert 'src="/static/console/predict.js"' in page
    assert "?tab=configuration" in page  # the live socket sends only header fragments, which this tab has


def test_a_viewer_predicts_and_sees_status_variation_request_id_and_the_answer(bob, deployment, gateway):
    page = predict(bob, deployment, json.dumps([IRIS_ROW]))

    assert gateway.received == [("/v1/models/iris/predict", json.dumps([IRIS_ROW]).encode())]
    assert 'id="predict-status">HTTP 200' in page
    assert 'id="predict-served-by">default' in page
    assert 'id="predict-request-id">req-1' in page
    assert "&quot;species&quot;: 0" in page
    assert 'id="predict-latency"' in page


def test_a_named_variation_is_asked_for_by_its_own_route(bob, deployment, gateway):
    predict(bob, deployment, json.dumps(IRIS_ROW), variation="default")

    assert gateway.received[0][0] == "/v1/models/iris/default/predict"


def test_an_unknown_variation_is_refused_without_calling_the_gateway(bob, deployment, gateway):
    page = predict(bob, deployment, json.dumps(IRIS_ROW), variation="nope")

    assert "no variation named &#x27;nope&#x27;" in page
    assert gateway.received == []


def test_invalid_json_is_refused_without_calling_the_gateway_and_the_text_is_kept(bob, deployment, gateway):
    page = predict(bob, deployment, '{"sepal_length": 5.1,')

    assert "Not valid JSON" in page
    assert "line 1" in page
    assert "{&quot;sepal_length&quot;: 5.1,</textarea>" in page  # nothing typed is lost
    assert gateway.received == []
    assert not PredictionCall.objects.exists()


def test_an_oversize_body_is_refused_with_the_limit_named(bob, deployment, gateway):
    page = predict(bob, deployment, json.dumps({"x": "a" * MAX_BODY_BYTES}))

    assert "the limit for a test prediction is 8 MB (8,388,608 bytes)" in page
    assert gateway.received == []


def test_a_model_error_is_shown_with_its_message(bob, deployment, gateway):
    gateway.answer = (422, {"error": "missing field 'petal_width' in row 1", "status": 422})

    page = predict(bob, deployment, json.dumps({"sepal_length": 5.1}))

    assert 'id="predict-status">HTTP 422' in page
    assert "missing field &#x27;petal_width&#x27; in row 1" in page


def test_no_answer_within_the_variations_timeout_is_a_504_with_its_reason(bob, deployment, gateway):
    deployment.variations.update(request_timeout_ms=100)
    gateway.hang = True

    page = predict(bob, deployment, json.dumps(IRIS_ROW))

    assert 'id="predict-status">HTTP 504' in page
    assert "No answer within 2.1 s" in page


def test_a_gateway_that_does_not_answer_is_said_plainly(bob, deployment, gateway):
    gateway.shutdown()
    gateway.server_close()

    page = predict(bob, deployment, json.dumps(IRIS_ROW))

    assert "did not answer" in page
    assert "Is the deployment running?" in page


def test_htmx_gets_the_result_box_and_the_history_out_of_band(alice, bob, deployment):
    page = predict(alice, deployment, json.dumps(IRIS_ROW), HTTP_HX_REQUEST="true")
    viewers = predict(bob, deployment, json.dumps(IRIS_ROW), HTTP_HX_REQUEST="true")

    assert page.lstrip().startswith('<div id="predict-result"')
    assert '<div id="predict-history" hx-swap-oob="true">' in page
    assert "<html" not in page
    assert 'id="save-case"' in page  # an admin may save the answer as a case
    assert 'id="save-case"' not in viewers


def test_history_keeps_each_users_last_20_calls(alice, bob, deployment, gateway):
    for n in range(22):
        predict(bob, deployment, json.dumps({"n": n}))
    predict(alice, deployment, json.dumps({"n": "alice"}))

    kept = PredictionCall.objects.filter(deployment=deployment, user=bob)
    page = logged_in(bob).get(f"/deployments/{deployment.pk}/predict/").content.decode()
    assert kept.count() == 20
    assert sorted(json.loads(c.request_body)["n"] for c in kept) == list(range(2, 22))
    assert page.count('class="history-row"') == 20
    assert "alice" not in page.split('id="predict-history"')[1]


def test_a_history_row_refills_the_editor_without_javascript(bob, deployment):
    predict(bob, deployment, json.dumps({"n": 7}), variation="default")
    call = PredictionCall.objects.get()

    page = logged_in(bob).get(f"/deployments/{deployment.pk}/predict/?call={call.pk}").content.decode()

    assert "&quot;n&quot;: 7\n}</textarea>" in page
    assert '<option value="default" selected>' in page


def test_an_outsider_gets_404_on_every_route(charlie, deployment, gateway):
    client = logged_in(charlie)
    case = SavedCase.objects.create(deployment=deployment, name="c", request=IRIS_ROW, expected=[{"species": 0}])
    base = f"/deployments/{deployment.pk}/predict/"

    assert client.get(base).status_code == 404
    assert client.post(base, {"body": "{}"}).status_code == 404
    assert client.post(base + "cases/", {"name": "x", "body": "{}", "expected": "{}"}).status_code == 404
    assert client.post(base + "cases/run/").status_code == 404
    assert client.post(base + f"cases/{case.pk}/delete/").status_code == 404
    assert gateway.received == []


def test_anonymous_users_are_sent_to_log_in(client, deployment):
    response = client.get(f"/deployments/{deployment.pk}/predict/")

    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_a_viewer_runs_cases_but_only_deployers_save_or_delete_them(bob, deployment):
    case = SavedCase.objects.create(deployment=deployment, name="c", request=IRIS_ROW, expected=[{"species": 0}])
    client, base = logged_in(bob), f"/deployments/{deployment.pk}/predict/"

    assert client.post(base + "cases/", {"name": "x", "body": "{}", "expected": "{}"}).status_code == 403
    assert client.post(base + f"cases/{case.pk}/delete/").status_code == 403
    assert client.post(base + "cases/run/").status_code == 200
    assert SavedCase.objects.count() == 1


def test_saved_cases_pass_and_fail_with_their_diff(alice, deployment, gateway):
    client, base = logged_in(alice), f"/deployments/{deployment.pk}/predict/"
    gateway.answer = (200, [{"species": 0, "score": 0.3000001}])
    client.post(base + "cases/", {"name": "close enough", "body": json.dumps(IRIS_ROW),
                                  "expected": '[{"species": 0, "score": 0.3}]', "tolerance": "1e-6"})
    client.post(base + "cases/", {"name": "exact", "body": json.dumps(IRIS_ROW),
                                  "expected": '[{"species": 0, "score": 0.3}]', "tolerance": ""})

    page = client.post(base + "cases/run/", {"variation": ""}).content.decode()

    assert SavedCase.objects.count() == 2
    assert "1 of 2 passed" in page
    assert 'data-case="close enough" data-result="pass"' in page
    assert 'data-case="exact" data-result="fail"' in page
    assert "$[0].score: expected 0.3, got 0.3000001" in page


def test_a_case_that_cannot_be_saved_says_why_and_keeps_what_was_typed(alice, deployment):
    page = logged_in(alice).post(f"/deployments/{deployment.pk}/predict/cases/", {
        "name": "", "body": json.dumps(IRIS_ROW), "expected": "[{", "tolerance": "-1"}).content.decode()

    assert "Name the case" in page
    assert "The expected answer is not valid JSON" in page
    assert "A number from 0 up" in page
    assert ">[{</textarea>" in page
    assert not SavedCase.objects.exists()


def test_differences_name_each_place():
    assert differences({"a": [1, 2]}, {"a": [1, 2]}) == []
    assert differences({"a": [1, 2]}, {"a": [1, 3], "b": True}) == [
        "$.a[1]: expected 2, got 3", "$.b: not expected, got true"]
    assert differences([1.0], [1.0000001], 1e-6) == []
    assert differences([1], [True]) == ["$[0]: expected 1, got true"]
    assert differences([1, 2], [1]) == ["$: expected 2 items, got 1"]


def test_a_deployer_deletes_a_case(deployer, deployment):
    case = SavedCase.objects.create(deployment=deployment, name="c", request=IRIS_ROW, expected=[{"species": 0}])

    response = logged_in(deployer).post(f"/deployments/{deployment.pk}/predict/cases/{case.pk}/delete/")

    assert response.status_code == 302
    assert not SavedCase.objects.exists()
