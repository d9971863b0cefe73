"""Endpoint keys on Kubernetes, as objects: a Secret of key hashes beside the routes, mounted into the gateway.

What a platform engineer would check with kubectl: the Secret exists only when the deployment
requires keys, holds the hashes of exactly the project's accepted keys (never a key, never in a
ConfigMap), and the gateway's pod mounts it and names the file to the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from deployments.backends.kubernetes.gateway_objects import KEYS_DIR, KEYS_FILE
from deployments.endpoint_keys.gateway_config import console_key
from deployments.models import EndpointKey
from tests.kubernetes.conftest import Deployed, redeploy
from tests.kubernetes.test_schemas import SUPPORTED, validate

pytestmark = pytest.mark.django_db


def keys_in(secret: dict[str, Any]) -> dict[str, str]:
    """id → sha256 of the keys the Secret's file lists, decoded as the kubelet writes the file."""
    text = base64.b64decode(secret["data"][KEYS_FILE]).decode()
    return {item["id"]: item["sha256"] for item in json.loads(text)["endpoint_keys"]}


@pytest.fixture
def requiring(deployed: Deployed) -> tuple[Deployed, dict[str, str]]:
    """The two-variation deployment, redeployed requiring keys; its project has two keys, one revoked."""
    project = deployed.deployment.model.project
    kept, kept_raw = EndpointKey.issue(project, "billing service")
    gone, gone_raw = EndpointKey.issue(project, "old batch job")
    gone.revoked_at = timezone.now()
    gone.save(update_fields=["revoked_at"])
    return (redeploy(deployed, replace(deployed.spec, require_key=True), revision=2),
            {"kept": kept_raw, "gone": gone_raw, "kept_id": str(kept.pk)})


def test_without_require_key_there_is_no_keys_secret_and_no_keys_mount(deployed: Deployed) -> None:
    assert deployed.spec.require_key is False
    assert not [o for o in deployed.objects if o["kind"] == "Secret"
                and o["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]
    pod = deployed.one("Deployment", component="gateway")["spec"]["template"]["spec"]
    assert "--keys-file" not in pod["containers"][0]["args"]
    assert all("secret" not in v for v in pod["volumes"])


def test_the_keys_secret_holds_the_hashes_of_the_accepted_keys_only(requiring: tuple[Deployed, dict[str, str]]) -> None:
    deployed, raw = requiring
    secret = deployed.one("Secret", component="gateway")
    project_id = deployed.deployment.model.project_id

    assert keys_in(secret) == {
        raw["kept_id"]: hashlib.sha256(raw["kept"].encode()).hexdigest(),
        "console": hashlib.sha256(console_key(project_id).encode()).hexdigest(),
    }
    everything = json.dumps(deployed.objects) + "".join(
        base64.b64decode(v).decode() for o in deployed.objects if o["kind"] == "Secret" for v in o["data"].values())
    assert raw["kept"] not in everything  # hashes only, never a key
    assert hashlib.sha256(raw["gone"].encode()).hexdigest() not in everything  # the revoked one is gone
    routes = deployed.one("ConfigMap", component="gateway")
    assert "endpoint_keys" not in json.dumps(routes)  # nothing that authenticates callers in a ConfigMap


def test_the_gateway_pod_mounts_the_keys_secret_and_names_its_file(requiring: tuple[Deployed, dict[str, str]]) -> None:
    deployed, _ = requiring
    secret = deployed.one("Secret", component="gateway")
    pod = deployed.one("Deployment", component="gateway")["spec"]["template"]["spec"]
    container = pod["containers"][0]

    keys_file = container["args"][container["args"].index("--keys-file") + 1]
    mount = next(m for m in container["volumeMounts"] if keys_file.startswith(m["mountPath"] + "/"))
    assert (mount["mountPath"], keys_file) == (KEYS_DIR, f"{KEYS_DIR}/{KEYS_FILE}")
    assert mount["readOnly"] is True
    assert "subPath" not in mount  # a subPath mount would never see a revocation
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume == {"name": mount["name"], "secret": {"secretName": secret["metadata"]["name"]}}
    names = [o["kind"] + "/" + o["metadata"]["name"] for o in deployed.objects]
    assert names.index(f"Secret/{secret['metadata']['name']}") < names.index(
        "Deployment/" + deployed.one("Deployment", component="gateway")["metadata"]["name"])  # applied before


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_object_of_a_deployment_requiring_keys_is_valid(requiring: tuple[Deployed, dict[str, str]],
                                                             version: str) -> None:
    deployed, _ = requiring
    assert sorted(o["kind"] for o in deployed.objects).count("Secret") == 3  # two variations' and the keys
    for document in deployed.objects:
        validate(document, version)
