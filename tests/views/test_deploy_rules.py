"""A bad deploy spec gets the same words from the wizard as from the API: both ask rollouts.spec.

Each case sends one bad value through the wizard's configure step (a browser form), through
its as-you-type check, and through `POST /api/v1/models/<id>/deploy/`, and compares the
messages on that field.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import override_settings

from deployments.models import Build, Deployment, Model, Rollout
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, variation
from tests.fixtures.people import logged_in
from tests.views.test_deploy_wizard import CONFIGURE, VALIDATE, form

pytestmark = pytest.mark.django_db

DEPLOY_API = "/api/v1/models/iris/deploy/"


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


def wizard_errors(page: str, html_name: str) -> list[str]:
    match = re.search(rf'id="err-{html_name}">(.*?)</ul>', page)
    assert match, f"no error list for {html_name}"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match.group(1))]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("replicas", 0, "Must be from 1 to 100 (got 0)."),
    ("replicas", "two", "Use a whole number from 1 to 100."),
    ("server_workers", 99, "Must be from 1 to 32 (got 99)."),
    ("request_timeout_ms", 50, "Must be from 100 to 600000 (got 50)."),
    ("traffic_percent", 101, "Must be from 0 to 100 (got 101)."),
    ("name", "Bad Name", "Use 1-36 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit."),
    ("name", "a" * 37, "Use 1-36 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit."),
    ("iam_role_arn", "my-role", "Use an IAM role ARN like arn:aws:iam::123456789012:role/my-model."),
    ("service_account_key_secret_name", "Bad_Secret",
     "Use a Kubernetes secret name: lowercase letters, digits, '-' or '.', at most 253 characters."),
    ("instance_type", "huge", None),
])
@override_settings(BERTH_BACKEND="kubernetes")  # where the IAM role and the key secret are offered
def test_a_bad_value_gets_the_same_message_from_the_wizard_and_the_api(build, alice, field, value, message):
    client = logged_in(alice)

    page = client.post(CONFIGURE, form(build, {field: value}))
    api = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, **{field: value})]}, format="json")

    assert (page.status_code, api.status_code) == (400, 400)
    in_api = api.json()[f"variations.0.{field}"]
    assert wizard_errors(page.content.decode(), f"variations-0-{field}") == in_api
    if message is not None:
        assert in_api == [message]
    else:
        assert in_api[0].startswith(f"Unknown instance type {value!r}; choose one of: small, ")
    assert not Deployment.objects.exists()
    assert not Rollout.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("replicas", "0"), ("server_workers", "99"), ("name", "Bad Name")])
def test_the_as_you_type_check_says_what_the_api_says(build, alice, field, value):
    typed = logged_in(alice).post(VALIDATE, form(build, {field: value}), HTTP_HX_REQUEST="true",
                                  HTTP_HX_TRIGGER_NAME=f"variations-0-{field}")
    as_json = int(value) if value.isdigit() else value  # a form's text is a JSON client's number
    api = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, **{field: as_json})]}, format="json")

    assert wizard_errors(typed.content.decode(), f"variations-0-{field}") == api.json()[f"variations.0.{field}"]


@pytest.mark.parametrize(("env", "key", "message"), [
    ({"name": "2X", "value": "1"}, "name", "Use letters, digits and '_', not starting with a digit (e.g. API_URL)."),
    ({"name": "BERTH_PORT", "value": "1"}, "name",
     "BERTH_PORT: names starting with BERTH_ or PROMETHEUS_ are reserved for the model server."),
    ({"name": "BIG", "value": "x" * 32_769}, "value", "Give BIG a text value of at most 32768 characters."),
])
def test_a_bad_env_var_gets_the_same_message_from_the_wizard_and_the_api(build, alice, env, key, message):
    page = logged_in(alice).post(CONFIGURE, form(build, {"env": [env]}))
    api = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, env=[env])]}, format="json")

    assert api.json()[f"variations.0.env.0.{key}"] == [message]
    assert wizard_errors(page.content.decode(), f"variations-0-env-0-{key}") == [message]


def test_a_build_that_is_not_ready_gets_the_same_message_from_the_wizard_and_the_api(iris_model, alice):
    a_ready_build(iris_model)
    failed = a_ready_build(iris_model, status="failed")

    page = logged_in(alice).post(CONFIGURE, form(failed))
    api = api_as(alice).post(DEPLOY_API, {"variations": [variation(failed)]}, format="json")

    message = f"Build {failed.short_id} is failed; only ready builds can be deployed."
    assert api.json()["variations.0.build_id"] == [message]
    assert wizard_errors(page.content.decode(), "variations-0-build_id") == [message]


def test_values_left_out_take_the_same_defaults_in_the_wizard_and_the_api(build, alice):
    """A blank number in the wizard is what leaving it out of the API body means: the documented default."""
    blank: dict[str, Any] = {"replicas": "", "server_workers": "", "name": ""}
    client = logged_in(alice)

    review = client.post(CONFIGURE, form(build, blank))

    assert review.status_code == 200
    assert f'{build.short_id}</span> · uploaded' in review.content.decode()
    assert "</td><td>small</td><td>1</td><td>2</td>" in review.content.decode()
