"""The Usage tab: the endpoints, the call contract, the snippets and each serving build's schema."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Deployment, Model
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

INPUTS = [{"name": name, "dtype": "number", "nullable": False} for name in IRIS_ROW]


@pytest.fixture
def deployment(iris_model: Model, alice: Any) -> Deployment:
    champion = a_ready_build(iris_model, input_schema=INPUTS, output_schema=[{"name": "species", "dtype": "integer"}],
                             example_output=[{"species": 0}], label="v1")
    nullable = {"name": "petal_length", "dtype": "number", "nullable": True, "model_dtype": "float32"}
    challenger = a_ready_build(iris_model, input_schema=[*INPUTS[:2], nullable],
                               output_schema=[{"name": "prediction", "dtype": "string"}], label="v2")
    return serving_deployment(iris_model, variation(champion, traffic_percent=80),
                              variation(challenger, name="challenger", traffic_percent=20), user=alice)


def test_the_tab_shows_each_variations_address_share_and_schema(bob, deployment):
    page = logged_in(bob).get(f"/deployments/{deployment.pk}/usage/").content.decode()

    assert 'aria-current="page">Usage</a>' in page
    assert "POST http://127.0.0.1:18080/v1/models/iris/predict" in page
    assert "POST http://127.0.0.1:18080/v1/models/iris/challenger/predict</span> <span class=\"muted\">(20%)" in page
    default = page.split('id="usage-default"')[1].split('id="usage-challenger"')[0]
    challenger = page.split('id="usage-challenger"')[1]
    assert '<td class="mono">petal_width</td><td>number</td><td>no</td>' in default
    assert '<td class="mono">species</td><td>integer</td>' in default
    assert "v1" in default
    assert '<td class="mono">petal_length</td><td>number <span class="muted">(model takes float32)</span></td><td>yes</td>' \
        in challenger
    assert '<td class="mono">prediction</td><td>string</td>' in challenger
    assert "petal_width" not in challenger.split("<h3>Output")[0]
    assert 'id="usage-curl"' in page
    assert "berth deployments status --model-id iris" in page  # the CLI snippet, as on the Overview
    assert "X-Request-Id" in page


def test_the_overview_still_shows_the_snippets(bob, deployment):
    page = logged_in(bob).get(f"/deployments/{deployment.pk}/").content.decode()

    assert 'id="cli-snippet"' in page
    assert 'id="python-snippet"' in page
    assert f'href="/deployments/{deployment.pk}/usage/"' in page


def test_a_deployment_that_serves_nothing_says_so(bob, iris_model):
    stopped = Deployment.objects.create(model=iris_model)

    page = logged_in(bob).get(f"/deployments/{stopped.pk}/usage/").content.decode()

    assert 'id="usage-not-serving"' in page


def test_an_outsider_gets_404_and_an_anonymous_visitor_the_login_page(charlie, client, deployment):
    assert logged_in(charlie).get(f"/deployments/{deployment.pk}/usage/").status_code == 404
    anonymous = client.get(f"/deployments/{deployment.pk}/usage/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
