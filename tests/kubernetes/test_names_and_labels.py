"""Names Kubernetes accepts whatever Berth allows, and labels that find everything again."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from deployments.backends.kubernetes.inputs import InstanceShape, Target, VariationInput
from deployments.backends.kubernetes.labels import deployment_selector
from deployments.backends.kubernetes.manifests import build_manifests
from deployments.backends.kubernetes.names import gateway_name, namespace_name, variation_name
from tests.kubernetes.conftest import CLUSTER, Deployed

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LONGEST_MODEL_ID = "9_" + "very_long_model_name_" * 2 + "x" * 18 + "_"  # 63: what MODEL_ID_RULE allows, worst case
LONGEST_VARIATION = "challenger." + "b" * 24 + "9"  # 36 characters


def manifests_of(model_id: str, variation: str, environment: str = "production", pk: int = 7) -> list[dict]:
    from deployments.rollouts.spec import VariationSpec

    target = Target(pk, "team_" + "p" * 58, model_id, environment, 1)
    spec = VariationSpec(name=variation, build_id="5b0a3c1e-8d1f-4c6e-9a55-2f7e1d0c9b31")
    return build_manifests(target, [VariationInput(spec, InstanceShape("small", Decimal("0.5"), 2))], CLUSTER)


def test_the_longest_names_berth_allows_still_make_valid_kubernetes_names() -> None:
    assert len(LONGEST_MODEL_ID) == 63
    assert len(LONGEST_VARIATION) == 36
    objects = manifests_of(LONGEST_MODEL_ID, LONGEST_VARIATION, environment="e" * 32)
    for item in objects:
        name = item["metadata"]["name"]
        assert len(name) <= 63, name
        assert DNS_1035.match(name), name
        assert len(item["metadata"]["namespace"]) <= 63
        for key, value in item["metadata"]["labels"].items():
            assert len(value) <= 63, (key, value)
            assert LABEL_VALUE.match(value), (key, value)
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["requests"]["cpu"] == "500m"


def test_long_names_stay_distinct_when_only_their_ends_differ() -> None:
    first = variation_name(Target(1, "p", LONGEST_MODEL_ID, "production", 1), LONGEST_VARIATION)
    second = variation_name(Target(1, "p", LONGEST_MODEL_ID, "production", 1), LONGEST_VARIATION[:-1] + "8")
    assert first != second
    assert len(first) == len(second) == 63


def test_parts_that_read_alike_when_joined_get_different_names() -> None:
    assert (variation_name(Target(1, "p", "a", "b-c", 1), "d")
            != variation_name(Target(2, "p", "a-b", "c", 1), "d"))


def test_a_variation_named_gateway_does_not_take_the_gateways_name() -> None:
    target = Target(1, "p", "iris", "production", 1)
    assert variation_name(target, "gateway") != gateway_name(target)


@pytest.mark.parametrize(("pattern", "project", "expected"), [
    ("berth-{project}", "fraud", "berth-fraud"),
    ("berth-{project}", "fraud_team", "berth-fraud-team"),
    ("{project}-{environment}", "fraud", "fraud-staging"),
    ("models", "fraud", "models"),
])
def test_the_namespace_comes_from_the_pattern(pattern: str, project: str, expected: str) -> None:
    assert namespace_name(pattern, project, "staging") == expected


def test_a_namespace_too_long_for_kubernetes_is_cut_and_stays_the_same() -> None:
    name = namespace_name("berth-{project}", "p" * 63, "production")
    assert len(name) <= 63
    assert name == namespace_name("berth-{project}", "p" * 63, "production")


def test_the_removal_selector_selects_every_object_and_nothing_of_another_deployment(deployed: Deployed) -> None:
    selector = deployment_selector_of(deployed)
    assert all(selector.items() <= o["metadata"]["labels"].items() for o in deployed.objects)
    other = manifests_of("iris", "default", pk=deployed.deployment.pk + 1)
    assert not any(selector.items() <= o["metadata"]["labels"].items() for o in other)


def test_each_service_selects_exactly_its_own_deployments_pods(deployed: Deployed) -> None:
    deployments = [o for o in deployed.objects if o["kind"] == "Deployment"]
    for service in (o for o in deployed.objects if o["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        matched = [d["metadata"]["name"] for d in deployments
                   if selector <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert matched == [service["metadata"]["name"]]
    for deployment in deployments:  # and each Deployment owns its pods (the API refuses it otherwise)
        assert (deployment["spec"]["selector"]["matchLabels"].items()
                <= deployment["spec"]["template"]["metadata"]["labels"].items())


def deployment_selector_of(deployed: Deployed) -> dict[str, str]:
    model = deployed.deployment.model
    return deployment_selector(Target(deployed.deployment.pk, model.project.slug, model.model_id,
                                      deployed.deployment.environment, 1))


def test_an_ingress_host_for_the_longest_model_id_is_a_valid_host_name() -> None:
    from deployments.backends.kubernetes.gateway_objects import ingress_host

    host = ingress_host(Target(1, "p", LONGEST_MODEL_ID, "e" * 32, 1), "{model}-{environment}.models.example.com")
    first, rest = host.split(".", 1)
    assert rest == "models.example.com"
    assert len(first) <= 63
    assert DNS_1035.match(first)
