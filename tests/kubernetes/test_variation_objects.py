"""What a user of a Kubernetes console would notice about a variation's objects.

Built from a real deployment and a spec validated as a Kubernetes console validates it
(tests/kubernetes/conftest.py): `default` on a CPU type with an IAM role and a secret env var,
`challenger` on a GPU type.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace

from deployments.backends.kubernetes.inputs import PRESTOP_DELAY_S
from tests.kubernetes.conftest import CLUSTER, SECRET_TOKEN, Deployed, redeploy, two_variation_spec


def server(deployed: Deployed, variation: str) -> dict:
    return deployed.pod(variation)["containers"][0]


def test_a_gpu_instance_type_asks_for_its_gpu_and_lands_on_a_gpu_node(deployed: Deployed) -> None:
    pod = deployed.pod("challenger")
    resources = pod["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["nvidia.com/gpu"] == "1"
    assert resources["limits"]["cpu"] == "4"
    assert resources["limits"]["memory"] == "16Gi"
    assert pod["nodeSelector"] == {CLUSTER.gpu_node_label: "nvidia-tesla-t4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_a_cpu_instance_type_asks_for_no_gpu_and_no_gpu_node(deployed: Deployed) -> None:
    pod = deployed.pod("default")
    resources = pod["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod


def test_an_iam_role_gives_the_pods_a_service_account_annotated_with_it(deployed: Deployed) -> None:
    account = deployed.one("ServiceAccount", "default")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/iris"}
    assert deployed.pod("default")["serviceAccountName"] == account["metadata"]["name"]
    assert deployed.pod("default")["automountServiceAccountToken"] is False  # no Kubernetes API token for model code


def test_a_variation_without_cloud_credentials_gets_no_service_account(deployed: Deployed) -> None:
    assert [o["metadata"]["labels"]["berth.dev/variation"] for o in deployed.objects
            if o["kind"] == "ServiceAccount"] == ["default"]
    assert "serviceAccountName" not in deployed.pod("challenger")


def test_a_google_key_secret_is_mounted_and_named_by_google_application_credentials(deployed: Deployed) -> None:
    spec = two_variation_spec(deployed.deployment.model, iam_role_arn="",
                              service_account_key_secret_name="iris-gcp-key")  # noqa: S106 - a Secret's name
    pod = redeploy(deployed, spec, 2).pod("default")
    assert {"name": "gcp-key", "secret": {"secretName": "iris-gcp-key"}} in pod["volumes"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "gcp-key")
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == f"{mount['mountPath']}/key.json"
    assert pod["serviceAccountName"]


def test_secret_env_values_appear_in_the_deployment_only_as_references(deployed: Deployed) -> None:
    stored = next(e.value for e in deployed.spec.variations[0].env if e.secret)
    text = json.dumps(deployed.one("Deployment", "default"))
    assert SECRET_TOKEN not in text
    assert stored not in text
    env = {e["name"]: e for e in server(deployed, "default")["env"]}
    secret_name = deployed.one("Secret", "default")["metadata"]["name"]
    assert env["API_TOKEN"] == {"name": "API_TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "API_TOKEN"}}}
    assert env["FEATURE_URL"] == {"name": "FEATURE_URL", "value": "http://features:8080"}


def test_the_secret_holds_the_decrypted_value(deployed: Deployed) -> None:
    data = deployed.one("Secret", "default")["data"]
    assert base64.b64decode(data["API_TOKEN"]).decode() == SECRET_TOKEN
    assert "FEATURE_URL" not in data  # plain values stay in the Deployment, where people can read them


def test_the_init_container_fetches_the_variations_own_build_with_a_token_from_the_secret(deployed: Deployed) -> None:
    from deployments.backends.kubernetes.artifacts import build_of_token

    fetch = deployed.pod("challenger")["initContainers"][0]
    build_id = deployed.spec.variation("challenger").build_id  # type: ignore[union-attr]
    env = {e["name"]: e for e in fetch["env"]}
    assert env["BERTH_ARTIFACT_URL"]["value"] == f"{CLUSTER.console_url}/api/v1/builds/{build_id}/artifact/"
    reference = env["BERTH_ARTIFACT_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = deployed.one("Secret", "challenger")
    assert reference["name"] == secret["metadata"]["name"]
    assert build_of_token(base64.b64decode(secret["data"][reference["key"]]).decode()) == build_id


def test_the_startup_probe_and_progress_deadline_follow_the_deploy_timeout(deployed: Deployed) -> None:
    for minutes in (10, 45):
        again = redeploy(deployed, two_variation_spec(deployed.deployment.model, deploy_timeout_min=minutes), 2)
        deployment = again.one("Deployment", "default")
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert probe["periodSeconds"] * probe["failureThreshold"] == minutes * 60
        assert probe["httpGet"]["path"] == "/health/ready"
        assert deployment["spec"]["progressDeadlineSeconds"] == minutes * 60


def test_a_capped_deploy_timeout_caps_the_probe_and_deadline_too(deployed: Deployed) -> None:
    capped = redeploy(deployed, deployed.spec, 2, replace(CLUSTER, deploy_timeout_cap_s=40))
    deployment = capped.one("Deployment", "default")
    assert deployment["spec"]["progressDeadlineSeconds"] == 40
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] == 40


def test_readiness_and_liveness_use_the_model_servers_health_endpoints(deployed: Deployed) -> None:
    container = server(deployed, "default")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_old_pods_keep_serving_until_new_ones_are_ready_and_get_time_to_drain(deployed: Deployed) -> None:
    deployment = deployed.one("Deployment", "default")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    drain = int(args[args.index("--graceful-timeout-s") + 1])
    assert drain == CLUSTER.drain_timeout_s
    assert pod["terminationGracePeriodSeconds"] > PRESTOP_DELAY_S + drain


def test_dollar_signs_in_env_values_reach_the_model_as_written(deployed: Deployed) -> None:
    """Kubernetes expands $(NAME) in env values and reads $$ as $; Berth escapes both."""
    spec = two_variation_spec(deployed.deployment.model,
                              env=[{"name": "PATTERN", "value": "$(HOME) costs $$5"}])
    env = {e["name"]: e.get("value") for e in redeploy(deployed, spec, 2).pod("default")["containers"][0]["env"]}
    assert env["PATTERN"] == "$$(HOME) costs $$$$5"


def test_a_revision_that_only_moves_traffic_or_replicas_restarts_no_pod(deployed: Deployed) -> None:
    moved = replace(deployed.spec, variations=tuple(
        replace(v, traffic_percent=50, replicas=v.replicas + 1) for v in deployed.spec.variations))
    again = redeploy(deployed, moved, 2)
    for name in ("default", "challenger"):
        assert again.one("Deployment", name)["spec"]["template"] == deployed.one("Deployment", name)["spec"]["template"]
        assert again.one("Deployment", name)["spec"]["replicas"] == deployed.one("Deployment", name)["spec"]["replicas"] + 1
    gateway = again.one("Deployment", component="gateway")["spec"]["template"]
    assert gateway == deployed.one("Deployment", component="gateway")["spec"]["template"]
    routes = json.loads(again.one("ConfigMap", component="gateway")["data"]["routes.json"])
    assert [v["traffic_percent"] for v in routes["variations"]] == [50, 50]


def test_a_new_build_changes_the_pod_template_so_kubernetes_rolls_it_out(deployed: Deployed) -> None:
    spec = two_variation_spec(deployed.deployment.model)  # new builds for both variations
    again = redeploy(deployed, spec, 2)
    before, after = (d.one("Deployment", "default")["spec"]["template"] for d in (deployed, again))
    assert before != after
    assert before["metadata"]["labels"]["berth.dev/runtime-key"] != after["metadata"]["labels"]["berth.dev/runtime-key"]


def test_the_same_inputs_give_the_same_objects(deployed: Deployed) -> None:
    assert redeploy(deployed, deployed.spec, 1).objects == deployed.objects


def test_without_outbound_network_the_pods_reach_only_dns_and_the_consoles_web_pods(deployed: Deployed) -> None:
    from deployments.backends.kubernetes.labels import CONSOLE_WEB
    from tests.kubernetes.conftest import shipped_documents

    policy = deployed.one("NetworkPolicy", "default")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= deployed.one("Deployment", "default")[
        "spec"]["template"]["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Egress"]
    dns, console = policy["egress"]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert {p["port"] for p in dns["ports"]} == {53}
    assert console["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "berth"}
    web = next(d for _, d in shipped_documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "berth-web")
    assert console["to"][0]["podSelector"]["matchLabels"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    assert CONSOLE_WEB.items() <= web["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in console["ports"]] == [web["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]]


def test_with_outbound_network_the_pods_get_no_network_policy(deployed: Deployed) -> None:
    again = redeploy(deployed, two_variation_spec(deployed.deployment.model, outbound_network=True), 2)
    assert [o["metadata"]["labels"]["berth.dev/variation"] for o in again.objects
            if o["kind"] == "NetworkPolicy"] == ["challenger"]
