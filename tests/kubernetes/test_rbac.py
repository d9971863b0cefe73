"""The console's rights in a project namespace: enough for everything Berth makes there, no more."""

from __future__ import annotations

from typing import Any

from tests.kubernetes.conftest import Deployed, shipped_documents

# kind -> (API group, resource) as RBAC names them.
RESOURCES = {"Deployment": ("apps", "deployments"), "Service": ("", "services"), "ConfigMap": ("", "configmaps"),
             "Secret": ("", "secrets"), "ServiceAccount": ("", "serviceaccounts"),
             "Ingress": ("networking.k8s.io", "ingresses"), "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
             "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers")}
MANAGE = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
READ = {("", "pods"): {"get", "list", "watch"}, ("", "events"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"}, ("", "pods/proxy"): {"get"}}


def granted() -> dict[tuple[str, str], set[str]]:
    role: dict[str, Any] = next(d for _, d in shipped_documents() if d["kind"] == "Role")
    rights: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rights.setdefault((group, resource), set()).update(rule["verbs"])
    return rights


def test_the_console_may_apply_and_remove_every_kind_it_creates(deployed: Deployed) -> None:
    rights = granted()
    for kind in {o["kind"] for o in deployed.objects}:
        assert rights.get(RESOURCES[kind], set()) >= MANAGE, f"the Role does not let the console manage {kind}s"


def test_the_console_may_do_nothing_else() -> None:
    expected = {RESOURCES[kind]: MANAGE for kind in RESOURCES} | READ
    assert granted() == expected
    assert not any("*" in verbs for verbs in granted().values())


def test_its_rights_are_bound_to_the_consoles_service_account_in_that_namespace_only() -> None:
    documents = [d for _, d in shipped_documents()]
    assert not [d for d in documents if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = next(d for d in documents if d["kind"] == "Role")
    binding = next(d for d in documents if d["kind"] == "RoleBinding")
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    for name in ("berth-web", "berth-worker"):
        pod = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
        assert pod["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
