"""The gateway of a deployment on Kubernetes: the same program and routes file as on the local runtime."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from deployments.backends.kubernetes.gateway_objects import ROUTES_DIR, ROUTES_FILE
from serving.gateway_routes import load_routes
from tests.kubernetes.conftest import CLUSTER, Deployed, redeploy


def test_the_routes_configmap_is_a_table_the_gateway_loads(deployed: Deployed, tmp_path: Path) -> None:
    config = deployed.one("ConfigMap", component="gateway")
    path = tmp_path / ROUTES_FILE
    path.write_text(config["data"][ROUTES_FILE])
    table = load_routes(path)  # the gateway's own reader, as it reads the mounted file
    assert table.model_id == "iris"
    assert [(r.name, r.traffic_percent) for r in table.live] == [("default", 80), ("challenger", 20)]
    for route in table.live:
        service = deployed.one("Service", route.name)["metadata"]
        assert route.endpoints == (f"http://{service['name']}.{service['namespace']}.svc:80",)


def test_the_gateway_reads_the_routes_from_the_mounted_configmap_without_subpath(deployed: Deployed) -> None:
    """A subPath mount never sees a ConfigMap's updates; a directory mount does, and the gateway
    reloads the file when it changes, so new weights need no restart."""
    pod = deployed.one("Deployment", component="gateway")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "serving.gateway"]
    assert container["args"][container["args"].index("--config") + 1] == f"{ROUTES_DIR}/{ROUTES_FILE}"
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == ROUTES_DIR)
    assert "subPath" not in mount
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == deployed.one("ConfigMap", component="gateway")["metadata"]["name"]


def test_a_routes_version_changes_with_the_weights_only(deployed: Deployed) -> None:
    def version(item: Deployed) -> str:
        return str(json.loads(item.one("ConfigMap", component="gateway")["data"][ROUTES_FILE])["version"])

    assert version(redeploy(deployed, deployed.spec, 2)) == version(deployed)
    shifted = replace(deployed.spec, variations=tuple(replace(v, traffic_percent=50) for v in deployed.spec.variations))
    assert version(redeploy(deployed, shifted, 2)) != version(deployed)


def test_the_ingress_sends_its_host_to_the_gateway_service(deployed: Deployed) -> None:
    ingress = deployed.one("Ingress", component="gateway")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    rule = ingress["rules"][0]
    assert rule["host"] == "iris-production.models.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == deployed.one("Service", component="gateway")["metadata"]["name"]


def test_no_ingress_without_a_host_pattern(deployed: Deployed) -> None:
    without = redeploy(deployed, deployed.spec, 1, replace(CLUSTER, ingress_host_pattern=""))
    assert "Ingress" not in {o["kind"] for o in without.objects}
