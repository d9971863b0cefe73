"""Every object Berth generates or ships is one a real API server would accept.

Checked offline against the OpenAPI schemas of the three newest Kubernetes minors that the
installed kubernetes-validate ships, in strict mode: an unknown field (a typo, a field from
another version) fails as well as a wrong type or a missing required field.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from tests.kubernetes.conftest import Deployed, shipped_documents

SUPPORTED = sorted({major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split("."))))[-3:]


def validate(document: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        name = f"{document['kind']}/{document['metadata']['name']}"
        path = "/".join(str(p) for p in exc.absolute_path)
        raise AssertionError(f"{name} is invalid on Kubernetes {version} at {path}: {exc.message}") from None


def test_three_recent_kubernetes_minors_are_checked() -> None:
    assert len(SUPPORTED) == 3
    assert SUPPORTED[-1] >= "1.35"


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_object_of_a_two_variation_deployment_is_valid(deployed: Deployed, version: str) -> None:
    kinds = sorted(o["kind"] for o in deployed.objects)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "Ingress", "NetworkPolicy",
                     "NetworkPolicy", "Secret", "Secret", "Service", "Service", "Service", "ServiceAccount"]
    for document in deployed.objects:
        validate(document, version)


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_shipped_console_manifest_is_valid(version: str) -> None:
    documents = shipped_documents()
    assert {d["kind"] for _, d in documents} >= {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                                                  "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    for _path, document in documents:
        validate(document, version)


def test_an_unknown_field_is_caught() -> None:
    """The check above could not pass by accident: strict mode refuses what the API would prune."""
    web = next(d for _, d in shipped_documents() if d["kind"] == "Deployment")
    web["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(AssertionError, match="imagePullPolice"):
        validate(web, SUPPORTED[-1])
