"""The Prediction tab's file mode: a .json or .csv file sent instead of typed JSON, against a stand-in gateway
that keeps what reached it (tests/fixtures/stand_in_gateway.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from deployments.models import Deployment, Model, PredictionCall
from deployments.prediction.gateway import MAX_BODY_BYTES
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.fixtures.stand_in_gateway import StandInGateway

pytestmark = pytest.mark.django_db

IRIS_SCHEMA = [{"name": name, "dtype": "number", "nullable": False} for name in IRIS_ROW] + [
    {"name": "grower", "dtype": "string", "nullable": True}, {"name": "count", "dtype": "integer", "nullable": True}]


@pytest.fixture
def deployment(iris_model: Model, alice: Any, gateway: StandInGateway) -> Deployment:
    build = a_ready_build(iris_model, input_schema=IRIS_SCHEMA)
    deployment = serving_deployment(iris_model, variation(build), user=alice)
    deployment.gateway_url = gateway.url
    deployment.save(update_fields=["gateway_url"])
    return deployment


def send_file(user: Any, deployment: Deployment, name: str, content: bytes) -> str:
    upload = SimpleUploadedFile(name, content)
    response = logged_in(user).post(f"/deployments/{deployment.pk}/predict/",
                                    {"body": "typed text that is not sent", "variation": "", "file": upload})
    assert response.status_code == 200
    return response.content.decode()


def test_a_csv_is_sent_as_columns_and_data_typed_by_the_builds_schema(bob, deployment, gateway):
    csv = b"sepal_length,sepal_width,petal_length,petal_width,grower,count\n5.1,3.5,1.4,0.2,007,3\n6.2,2.9,4.3,1.3,,\n"

    page = send_file(bob, deployment, "iris.csv", csv)

    assert json.loads(gateway.received[0][1]) == {
        "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width", "grower", "count"],
        "data": [[5.1, 3.5, 1.4, 0.2, "007", 3], [6.2, 2.9, 4.3, 1.3, None, None]]}
    assert 'id="predict-status">HTTP 200' in page
    assert "Sent iris.csv: 2 rows of 6 columns" in page
    assert json.loads(PredictionCall.objects.get().request_body)["data"][0][4] == "007"  # history keeps what went


def test_a_json_file_is_sent_as_it_is(bob, deployment, gateway):
    page = send_file(bob, deployment, "rows.json", json.dumps([IRIS_ROW]).encode())

    assert json.loads(gateway.received[0][1]) == [IRIS_ROW]
    assert "Sent rows.json as it is." in page


@pytest.mark.parametrize(("name", "content", "words"), [
    ("flower.png", b"\x89PNG\r\n\x1a\n", "flower.png: this deployment&#x27;s model takes JSON, so send a .json file"),
    ("iris.csv", b"sepal_length,petal_width\nwide,0.2\n",
     "iris.csv, line 2, column sepal_length: &#x27;wide&#x27; is not a number"),
    ("iris.csv", b"sepal_length,petal_width\n5.1\n", "iris.csv, line 2: 1 values for 2 columns"),
    ("iris.csv", b"sepal_length,petal_width\n", "needs a header row naming the columns and at least one row"),
    ("rows.json", b'[{"sepal_length": 5.1,', "Not valid JSON"),
    ("rows.json", "[1]".encode("utf-16"), "is not UTF-8 text"),
])
def test_a_file_that_cannot_be_sent_is_refused_with_what_to_do_and_nothing_is_sent(bob, deployment, gateway, name,
                                                                                   content, words):
    page = send_file(bob, deployment, name, content)

    assert words in page
    assert "Nothing was sent" in page
    assert gateway.received == []
    assert not PredictionCall.objects.exists()


def test_a_file_over_the_limit_is_refused_with_the_limit_named(bob, deployment, gateway):
    page = send_file(bob, deployment, "big.json", b"[" + b" " * MAX_BODY_BYTES + b"1]")

    assert "the limit for a test prediction is 8 MB (8,388,608 bytes)" in page
    assert gateway.received == []
