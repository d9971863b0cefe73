"""RealTimeClient against a real gateway: what the gateway says reaches the caller in its own words."""

from __future__ import annotations

import pytest

from deployments.backends.local import LocalBackend
from deployments.models import Deployment
from deployments.rollouts.spec import validate_spec
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, variation

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_gateway_404_about_a_variation_is_reported_as_the_gateway_said_it(supervisord, iris_model):
    from berth import RealTimeClient
    from berth.client import BerthError

    backend, deployment = LocalBackend.from_settings(), Deployment.objects.create(model=iris_model)
    spec = validate_spec(iris_model, {"variations": [variation(a_ready_build(iris_model))]})
    try:
        gateway = backend.route(deployment, spec)  # the gateway alone: it knows variation "default"
        with RealTimeClient(model_id="iris", variation="challenger", url=gateway.url) as client, \
                pytest.raises(BerthError) as refused:
            client.predict(IRIS_ROW)
    finally:
        backend.delete(deployment)

    assert refused.value.status == 404
    assert refused.value.message == "iris: no variation 'challenger'; this deployment has: default"
