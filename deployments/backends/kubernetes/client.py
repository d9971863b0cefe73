"""The one seam to the Kubernetes API: the official `kubernetes` client, configured once.

`connect(kubeconfig)` reads a kubeconfig file, or the pod's in-cluster service account when the
path is empty (the console running in the cluster). `Api` wraps the typed API classes with the
calls the adapter makes, by kind, and reads answers as plain dicts (the same shape the manifest
functions build), never the generated model classes: what Berth applies and what it reads back
compare directly.

Errors of the API come out as BackendError saying what the cluster answered.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deployments.backends.base import BackendError

FIELD_MANAGER = "berth"
POOL_SIZE = 128  # connections kept to the API server per process
APPLY = "application/apply-patch+yaml"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    api: str      # attribute of Api holding the typed API class
    snake: str    # as in the client's method names: patch_namespaced_<snake>


# Every kind Berth creates, in the order deletion goes (pods' owners before what they mount).
KINDS: dict[str, Kind] = {
    "Ingress": Kind("networking", "ingress"),
    "NetworkPolicy": Kind("networking", "network_policy"),
    "Service": Kind("core", "service"),
    "Deployment": Kind("apps", "deployment"),
    "ConfigMap": Kind("core", "config_map"),
    "Secret": Kind("core", "secret"),
    "ServiceAccount": Kind("core", "service_account"),
}


def connect(kubeconfig: str) -> client.ApiClient:
    """A client for the cluster of `kubeconfig`, or of the pod it runs in when empty: one per process
    while the file stays the same (the collector asks for a backend per deployment each round, and
    loading a kubeconfig may run an exec plugin); tokens that expire are renewed by the client's own
    refresh hook."""
    try:
        changed = os.stat(kubeconfig).st_mtime_ns if kubeconfig else 0
    except OSError:
        changed = -1  # _connect says what is wrong with it
    return _connect(kubeconfig, changed)


@functools.lru_cache(maxsize=8)
def _connect(kubeconfig: str, changed: int) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
    except (config.ConfigException, OSError) as exc:
        where = (f"the kubeconfig {kubeconfig} (BERTH_KUBECONFIG)" if kubeconfig
                 else "the pod's service account (in-cluster; outside a cluster, set BERTH_KUBECONFIG)")
        raise BackendError(f"BERTH_BACKEND=kubernetes: cannot reach the Kubernetes API with {where}: {exc}") from None
    # Shared by the whole process: rollouts, scrapes and a live tail's follow stream per container
    # (the client's default, 5 per CPU, made it open and drop connections past ten followed pods).
    configuration.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(configuration)


def _answer(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a typed API method and return its JSON as plain data; BackendError when the API refuses."""
    try:
        response = call(*args, _preload_content=False, **kwargs)
    except ApiException as exc:
        raise api_error(exc) from None
    except (HTTPError, OSError) as exc:
        raise BackendError(f"The Kubernetes API does not answer: {exc}") from None
    return json.loads(response.data or b"null")


def api_error(exc: ApiException) -> BackendError:
    message = exc.reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(exc.body or "{}").get("message") or message
    return BackendError(f"The Kubernetes API refused ({exc.status}): {message}")


def is_not_found(exc: ApiException) -> bool:
    return exc.status == 404


class Api:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)

    def _method(self, kind: str, verb: str) -> Any:
        spec = KINDS[kind]
        return getattr(getattr(self, spec.api), f"{verb}_namespaced_{spec.snake}")

    def apply(self, manifest: Obj) -> Obj:
        """Server-side apply with Berth's one field manager (forced: Berth owns what it applies)."""
        meta = manifest["metadata"]
        return dict(_answer(self._method(manifest["kind"], "patch"), meta["name"], meta["namespace"], manifest,
                            field_manager=FIELD_MANAGER, force=True, _content_type=APPLY))

    def items(self, kind: str, namespace: str, selector: str) -> list[Obj]:
        return list(self.list_with_version(kind, namespace, selector)[0])

    def list_with_version(self, kind: str, namespace: str, selector: str) -> tuple[list[Obj], str]:
        answer = _answer(self._method(kind, "list"), namespace, label_selector=selector)
        return answer.get("items") or [], answer.get("metadata", {}).get("resourceVersion", "")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return dict(_answer(self._method(kind, "read"), name, namespace))
        except BackendError as exc:
            if "(404)" in str(exc):
                return None
            raise

    def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            _answer(self._method(kind, "delete"), name, namespace, propagation_policy="Background")
        except BackendError as exc:
            if "(404)" not in str(exc):
                raise

    def delete_all(self, kind: str, namespace: str, selector: str) -> None:
        """Delete every object of `kind` the selector matches (one by one: not every kind has deletecollection)."""
        for item in self.items(kind, namespace, selector):
            self.delete(kind, namespace, item["metadata"]["name"])

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        _answer(self.apps.patch_namespaced_deployment_scale, name, namespace, {"spec": {"replicas": replicas}},
                field_manager=FIELD_MANAGER, _content_type="application/merge-patch+json")

    def pods(self, namespace: str, selector: str) -> list[Obj]:
        return self.pods_with_version(namespace, selector)[0]

    def pods_with_version(self, namespace: str, selector: str) -> tuple[list[Obj], str]:
        """The pods and the list's resourceVersion (what a watch for later changes starts from)."""
        answer = _answer(self.core.list_namespaced_pod, namespace, label_selector=selector)
        return list(answer.get("items") or []), answer.get("metadata", {}).get("resourceVersion", "")

    def pod_log(self, namespace: str, pod: str, container: str, tail: int | None = None,
                previous: bool = False) -> list[str]:
        try:
            response: Any = self.core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail,
                                                         previous=previous, _preload_content=False)
        except ApiException as exc:
            if exc.status in (400, 404):  # no previous container, or the pod is gone: no lines
                return []
            raise api_error(exc) from None
        except (HTTPError, OSError) as exc:
            raise BackendError(f"The Kubernetes API does not answer: {exc}") from None
        return response.data.decode(errors="replace").splitlines()

    def log_response(self, namespace: str, pod: str, container: str, *, timestamps: bool = True,
                     previous: bool = False, follow: bool = False, tail: int | None = None,
                     since_time: str = "", limit_bytes: int | None = None,
                     timeout: float | tuple[float, float] | None = None) -> Any | None:
        """The pod log API's answer, not read yet (a urllib3 response: `.read()` it, or `.stream()` it
        when following, then `release_conn()`); None when the pod, that container or its previous
        container has no log (404, 400). `since_time` (RFC 3339) is a parameter of the API that the
        generated client's read_namespaced_pod_log lacks, so the request is built here."""
        query = [("container", container)]
        for name, value in (("timestamps", timestamps), ("previous", previous), ("follow", follow)):
            if value:
                query.append((name, "true"))
        for name, number in (("tailLines", tail), ("limitBytes", limit_bytes)):
            if number is not None:
                query.append((name, str(number)))
        if since_time:
            query.append(("sinceTime", since_time))
        try:
            request = self.api_client.param_serialize(
                "GET", "/api/v1/namespaces/{namespace}/pods/{name}/log", path_params={"namespace": namespace, "name": pod},
                query_params=query, header_params={"Accept": "text/plain, */*"}, auth_settings=["BearerToken"])
            answer: Any = self.api_client.call_api(*request, _request_timeout=timeout)
        except ApiException as exc:
            raise api_error(exc) from None
        except (HTTPError, OSError) as exc:
            raise BackendError(f"The Kubernetes API does not answer: {exc}") from None
        if 200 <= answer.status < 300:
            return answer.response
        answer.read()
        if answer.status in (400, 404):  # no previous container, the container has not started, or the pod is gone
            return None
        raise api_error(ApiException.from_response(http_resp=answer, body=None, data=None))
