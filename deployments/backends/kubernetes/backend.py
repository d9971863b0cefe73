"""The Kubernetes runtime: the rollout engine's Backend, over the official `kubernetes` client.

How the engine's steps map onto the cluster:

- `apply` server-side-applies every object of the revision (`manifests.manifests_for`) with one
  field manager, `berth`, except the gateway's routes ConfigMap once it exists: a variation's
  Deployment then rolls its pods itself (`maxUnavailable: 0`, so old pods serve until new ones are
  ready) while the gateway keeps the old weights.
- `replicas` reads the variations' Deployments and pods (status.py says how they become states and
  reasons); a replica's endpoint is its pod's address through the API server's pod proxy,
  `<api>/api/v1/namespaces/<ns>/pods/<pod>:8080/proxy`, the way metrics are scraped from outside
  the cluster with the console's own credentials.
- `route` applies the routes ConfigMap (the gateway reloads the mounted file, no restart) and, when
  the spec requires endpoint keys, the keys Secret with the project's accepted keys (under
  `keys_lock`, as `refresh_endpoint_keys` re-applies it after a revocation; deleted when keys are
  not required), then waits, with a watch, until the gateway's Deployment has a ready pod.
- `prune` re-applies the revision's objects, which on a failed rollout rolls every variation's
  Deployment back to that revision's pod template, then deletes the objects of variations the
  revision no longer has.
- `delete` deletes every object labelled with the deployment's selector; the cluster's garbage
  collector removes their pods.

Which revision's objects a spec is: the newest Rollout of the deployment with that spec (its
number labels the objects `berth.dev/revision`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async

from deployments.backends.base import Backend, BackendError, GatewayStatus, ReplicaStatus
from deployments.backends.kubernetes import labels, proxy
from deployments.backends.kubernetes.client import KINDS, Api, Obj, connect
from deployments.backends.kubernetes.gateway_objects import KEYS_FILE, ROUTES_FILE, gateway_keys_secret
from deployments.backends.kubernetes.inputs import CONTAINER_PORT, ClusterSettings, Target
from deployments.backends.kubernetes.logs import PodLogs
from deployments.backends.kubernetes.manifests import manifests_for
from deployments.backends.kubernetes.names import gateway_name, namespace_name
from deployments.backends.kubernetes.status import deployment_problem, named_pods, replica_statuses
from deployments.backends.kubernetes.watch import next_change, wait_until
from deployments.backends.log_files import Position, RawLine
from deployments.backends.replica_id import ReplicaId, desired_replicas

if TYPE_CHECKING:
    import httpx

    from deployments.models import Deployment
    from deployments.rollouts.spec import DeploySpec

MODEL_SERVER_CONTAINER = "model-server"
GATEWAY_CONTAINER = "gateway"
CHANGE_WAIT_S = 5  # the longest a rollout waits on a quiet watch before it observes (and checks its deadline)


class KubernetesBackend(Backend):
    name = "kubernetes"

    def __init__(self, api: Api, cluster: ClusterSettings) -> None:
        self.api = api
        self.cluster = cluster
        self._last_applied: tuple[int, str] | None = None
        self._pod_logs: dict[int, PodLogs] = {}
        self._pods_seen: dict[int, str] = {}  # deployment pk → resourceVersion of its last pod list

    @classmethod
    def from_settings(cls) -> KubernetesBackend:
        from django.conf import settings

        return cls(Api(connect(settings.BERTH_KUBECONFIG)), ClusterSettings.from_settings())

    # --- where a deployment lives ---------------------------------------------------------

    def _target(self, deployment: Deployment, revision: int = 0) -> Target:
        model = deployment.model
        return Target(deployment.pk, model.project.slug, model.model_id, deployment.environment, revision)

    def _namespace(self, deployment: Deployment) -> str:
        return namespace_name(self.cluster.namespace_pattern, deployment.model.project.slug, deployment.environment)

    def _selector(self, deployment: Deployment, component: str = "") -> str:
        target = self._target(deployment)
        return labels.selector_string(labels.pod_selector(target, component) if component
                                      else labels.deployment_selector(target))

    def _manifests(self, deployment: Deployment, spec: DeploySpec) -> list[Obj]:
        return manifests_for(deployment, spec, _revision_of(deployment, spec), self.cluster)

    # --- the engine's steps ---------------------------------------------------------------

    def apply(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        """Apply the revision; asked again for the same spec while its pods start (the engine does, each
        poll, while some are missing), only when a variation's Deployment is gone or runs another template:
        the Deployment controller makes the missing pods itself."""
        running = {r.name for r in self.replicas(deployment)}
        key = (deployment.pk, json.dumps(spec.to_json(), sort_keys=True))
        if key != self._last_applied or not self._runs(deployment, spec):
            self._apply_all(deployment, spec)
            self._last_applied = key
        return [rid for rid in desired_replicas(deployment.pk, spec) if rid.name not in running]

    def _runs(self, deployment: Deployment, spec: DeploySpec) -> bool:
        """Whether every variation of `spec` has its Deployment with the spec's pod template and replicas."""
        found = {d["metadata"]["labels"].get(labels.VARIATION_LABEL): d for d in
                 self.api.items("Deployment", self._namespace(deployment), self._selector(deployment, labels.MODEL_SERVER))}
        for variation in spec.variations:
            current = found.get(variation.name)
            if current is None or current["spec"].get("replicas") != variation.replicas or \
                    current["spec"]["template"]["metadata"]["labels"].get(labels.RUNTIME_KEY_LABEL) != variation.runtime_key:
                return False
        return True

    def _apply_all(self, deployment: Deployment, spec: DeploySpec) -> None:
        """Every object of the spec but the routes and the keys (unless the gateway has none yet: first
        deploy, so that its pods can start); route() and refresh_endpoint_keys() write those."""
        for manifest in self._manifests(deployment, spec):
            meta = manifest["metadata"]
            if (_is_routes(manifest) or _is_keys(manifest)) and \
                    self.api.get(manifest["kind"], meta["namespace"], meta["name"]) is not None:
                continue
            self.api.apply(manifest)

    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        namespace = self._namespace(deployment)
        selector = self._selector(deployment, labels.MODEL_SERVER)
        problems = {d["metadata"]["labels"].get(labels.VARIATION_LABEL, ""): deployment_problem(d)
                    for d in self.api.items("Deployment", namespace, selector)}
        pods, self._pods_seen[deployment.pk] = self.api.pods_with_version(namespace, selector)
        return replica_statuses(
            deployment.pk, pods, problems, lambda pod: self._pod_url(namespace, pod),
            lambda pod: self.api.pod_log(namespace, pod, MODEL_SERVER_CONTAINER, tail=20, previous=True))

    def await_change(self, deployment: Deployment, poll_s: float) -> None:
        """Watch the replicas' pods from what replicas() last listed: back at their first change (a pod
        scheduled, started, ready, crashed), or after CHANGE_WAIT_S, when nothing changed."""
        version = self._pods_seen.get(deployment.pk)
        if not version:
            super().await_change(deployment, poll_s)
            return
        next_change(self.api, "Pod", self._namespace(deployment), self._selector(deployment, labels.MODEL_SERVER),
                    version, CHANGE_WAIT_S)

    def _pod_url(self, namespace: str, pod: Obj) -> str:
        return proxy.pod_url(self.api.api_client.configuration, namespace, pod["metadata"]["name"], CONTAINER_PORT)

    def http_client(self) -> httpx.Client:
        """Reads the pod proxy URLs of `endpoints()` and `gateway_endpoints()` with the console's credentials."""
        return proxy.client_for(self.api.api_client.configuration)

    def gateway_endpoints(self, deployment: Deployment) -> dict[str, str]:
        """Every running gateway pod, through the pod proxy (the Service's URL only answers inside the cluster)."""
        namespace = self._namespace(deployment)
        return {pod["metadata"]["name"]: self._pod_url(namespace, pod)
                for pod in self.api.pods(namespace, self._selector(deployment, labels.GATEWAY))
                if (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")}

    def route(self, deployment: Deployment, spec: DeploySpec) -> GatewayStatus:
        from deployments.endpoint_keys.gateway_config import keys_lock

        namespace, name = self._namespace(deployment), gateway_name(self._target(deployment))
        with keys_lock(deployment.pk):  # the keys read and written together: a refresh waits
            manifests = self._manifests(deployment, spec)
            for manifest in manifests:
                if manifest["metadata"]["labels"].get(labels.COMPONENT_LABEL) == labels.GATEWAY:
                    self.api.apply(manifest)
            if not spec.require_key:
                self.api.delete("Secret", namespace, name)  # the gateway's pods no longer mount it
        timeout_s = spec.deploy_timeout_s
        if self.cluster.deploy_timeout_cap_s:
            timeout_s = min(timeout_s, self.cluster.deploy_timeout_cap_s)
        found = wait_until(self.api, "Deployment", namespace, self._selector(deployment, labels.GATEWAY),
                           lambda items: any(_ready_pods(d) > 0 for d in items), timeout_s)
        if found is None:
            raise BackendError(f"The gateway (Deployment {name} in {namespace}) had no ready pod within "
                               f"{timeout_s} s; see its pods' events (kubectl -n {namespace} describe deploy {name}).")
        return self._gateway_status(deployment, manifests, ready=True)

    def _gateway_status(self, deployment: Deployment, manifests: list[Obj], ready: bool) -> GatewayStatus:
        namespace, name = self._namespace(deployment), gateway_name(self._target(deployment))
        url = f"http://{name}.{namespace}.svc"
        version = ""
        for manifest in manifests:
            if manifest["kind"] == "Ingress":
                url = f"http://{manifest['spec']['rules'][0]['host']}"
            if _is_routes(manifest):
                version = _routes_version(manifest)
        return GatewayStatus(url=url, config_version=version, ready=ready)

    def prune(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        keep = {(v.name, v.runtime_key) for v in spec.variations}
        leaving = [r.id for r in self.replicas(deployment) if (r.variation, r.runtime_key) not in keep]
        self._apply_all(deployment, spec)  # rolls a variation back to the spec's template if it ran another
        namespace, names = self._namespace(deployment), {v.name for v in spec.variations}
        for kind in KINDS:
            for item in self.api.items(kind, namespace, self._selector(deployment)):
                variation = item["metadata"].get("labels", {}).get(labels.VARIATION_LABEL)
                if variation and variation not in names:
                    self.api.delete(kind, namespace, item["metadata"]["name"])
        return leaving

    def delete(self, deployment: Deployment) -> None:
        namespace, selector = self._namespace(deployment), self._selector(deployment)
        for kind in KINDS:
            self.api.delete_all(kind, namespace, selector)

    def scale(self, deployment: Deployment, spec: DeploySpec) -> tuple[list[ReplicaId], list[ReplicaId]]:
        """Patch each variation's replicas (the scale subresource); pods come and go by their Deployment."""
        before = {r.name for r in self.replicas(deployment)}
        target = self._target(deployment)
        namespace = self._namespace(deployment)
        from deployments.backends.kubernetes.names import variation_name

        for variation in spec.variations:
            self.api.scale(namespace, variation_name(target, variation.name), variation.replicas)
        wanted = desired_replicas(deployment.pk, spec)
        started = [rid for rid in wanted if rid.name not in before]
        stopped = [ReplicaId.parse(deployment.pk, name) for name in sorted(before - {r.name for r in wanted})]
        return started, stopped

    def refresh_endpoint_keys(self, deployment: Deployment) -> bool:
        """Re-apply the keys Secret of a gateway that has one with the project's accepted keys now. The
        gateway serves them once the kubelet has synced the mounted Secret (about a minute at most with
        its defaults; docs/endpoint-keys.md), which the console does not wait for."""
        from deployments.endpoint_keys.gateway_config import accepted_keys, keys_lock

        namespace, name = self._namespace(deployment), gateway_name(self._target(deployment))
        with keys_lock(deployment.pk):
            found = self.api.get("Secret", namespace, name)
            if found is None or not _is_keys(found):
                return False
            revision = int(found["metadata"].get("labels", {}).get("berth.dev/revision") or 0)
            self.api.apply(gateway_keys_secret(self._target(deployment, revision), namespace,
                                               accepted_keys(deployment.model.project_id)))
        return True

    # --- the gateway and logs ---------------------------------------------------------------

    def gateway(self, deployment: Deployment) -> GatewayStatus | None:
        namespace, name = self._namespace(deployment), gateway_name(self._target(deployment))
        found = self.api.get("Deployment", namespace, name)
        if found is None:
            return None
        routes = self.api.get("ConfigMap", namespace, name)
        manifests = [m for m in (routes, self.api.get("Ingress", namespace, name)) if m is not None]
        return self._gateway_status(deployment, manifests, ready=_ready_pods(found) > 0)

    def gateway_problem(self, deployment: Deployment) -> str:
        namespace, name = self._namespace(deployment), gateway_name(self._target(deployment))
        found = self.api.get("Deployment", namespace, name)
        if found is None or _ready_pods(found) > 0:
            return ""
        wanted = found["spec"].get("replicas", 1)
        return f"The gateway has no ready pod (0 of {wanted}); kubectl -n {namespace} describe deploy {name} says why."

    def _pod_of(self, deployment: Deployment, replica: str) -> tuple[str, str, str]:
        """(namespace, pod, container) of a replica name, or of a gateway pod for "gateway"."""
        namespace = self._namespace(deployment)
        if replica == "gateway":
            pods = self.api.pods(namespace, self._selector(deployment, labels.GATEWAY))
            if not pods:
                raise BackendError("The deployment's gateway has no pod.")
            return namespace, pods[0]["metadata"]["name"], GATEWAY_CONTAINER
        pods = self.api.pods(namespace, self._selector(deployment, labels.MODEL_SERVER))
        for rid, pod in named_pods(deployment.pk, pods):
            if rid.name == replica:
                return namespace, pod["metadata"]["name"], MODEL_SERVER_CONTAINER
        raise BackendError(f"No replica {replica} runs in the cluster.")

    def tail_logs(self, deployment: Deployment, replica: str, lines: int = 100) -> list[str]:
        namespace, pod, container = self._pod_of(deployment, replica)
        return self.api.pod_log(namespace, pod, container, tail=lines)

    # Retained logs: the pod log API, as deployments/backends/kubernetes/logs.py reads it.

    def _logs(self, deployment: Deployment) -> PodLogs:
        found = self._pod_logs.get(deployment.pk)
        if found is None:
            found = self._pod_logs[deployment.pk] = PodLogs(
                self.api, deployment.pk, self._namespace(deployment), self._selector(deployment),
                {labels.MODEL_SERVER: MODEL_SERVER_CONTAINER, labels.GATEWAY: GATEWAY_CONTAINER})
        return found

    def log_sources(self, deployment: Deployment) -> list[str]:
        return self._logs(deployment).sources()

    def log_end(self, deployment: Deployment, source: str) -> Position | None:
        return self._logs(deployment).end(source)

    def read_log_backward(self, deployment: Deployment, source: str, before: Position | None) -> Iterator[RawLine]:
        return self._logs(deployment).backward(source, before)

    def read_log_forward(self, deployment: Deployment, source: str, after: Position | None) -> Iterator[RawLine]:
        return self._logs(deployment).forward(source, after)

    async def follow_logs(self, deployment: Deployment, poll_s: float) -> AsyncIterator[list[RawLine]]:
        stream = (await sync_to_async(self._logs)(deployment)).follow(poll_s)  # its namespace may read the database
        try:
            async for batch in stream:
                yield batch
        finally:
            await stream.aclose()

    def prune_logs(self, deployment: Deployment, older_than_s: float) -> int:
        """Nothing to delete: the kubelet rotates and removes container logs, and a pod's go with it."""
        return 0


def _ready_pods(deployment: Obj) -> int:
    """Ready pods of a Deployment whose status describes its current spec (0 while it lags)."""
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1):
        return 0
    return int(status.get("readyReplicas") or 0)


def _is_routes(manifest: Obj) -> bool:
    return manifest["kind"] == "ConfigMap" and ROUTES_FILE in (manifest.get("data") or {})


def _is_keys(manifest: Obj) -> bool:
    return manifest["kind"] == "Secret" and KEYS_FILE in (manifest.get("data") or {})


def _routes_version(config_map: Obj) -> str:
    try:
        return str(json.loads(config_map["data"][ROUTES_FILE]).get("version", ""))
    except (KeyError, ValueError):
        return ""


def _revision_of(deployment: Deployment, spec: DeploySpec) -> int:
    """The newest revision of the deployment that asked for `spec` (0 when none did)."""
    from deployments.models import Rollout
    from deployments.rollouts.spec import DeploySpec

    for revision, stored in Rollout.objects.filter(deployment=deployment).order_by("-revision") \
            .values_list("revision", "spec")[:50]:
        if DeploySpec.from_json(stored) == spec:
            return int(revision)
    return 0
