"""A real HTTP server speaking the part of the Kubernetes API Berth uses (a test fixture, no cluster).

The official `kubernetes` client talks to it unchanged, over HTTP on 127.0.0.1 (a kubeconfig
written by `StandInCluster.kubeconfig`). Paths are the API's own:
`/api/v1/namespaces/{ns}/{resource}[/{name}[/{subresource}]]` for the core group and
`/apis/{group}/{version}/namespaces/{ns}/...` for the others. Answered:

- list (with `labelSelector`), get, create (POST), replace (PUT), delete, deletecollection;
- PATCH as server-side apply (`application/apply-patch+yaml`, `fieldManager` required; one
  manager owns what it applies, so the applied object replaces the previous one's fields while
  `status`, `uid`, `creationTimestamp` and a Deployment's `replicas` left out stay), and as JSON
  merge / strategic merge patch (merged recursively);
- a Deployment's `scale` and `status` subresources;
- watches (`?watch=true&resourceVersion=N`): ADDED/MODIFIED/DELETED lines, one JSON object each,
  and an ERROR event with code 410 for a resourceVersion older than the kept history;
- `pods/{name}/log` with `container`, `timestamps`, `sinceTime`, `sinceSeconds`, `tailLines`,
  `limitBytes`, `previous` and `follow` (see `_log`);
- `pods/{name}:{port}/proxy/{path}` (GET): forwarded to the real HTTP server the test put behind
  that pod's port (`StandInServer.proxied`), as the API server forwards to the pod; refused with 401
  unless the request carries the kubeconfig's bearer token (`StandInServer.token`), 404 for a pod
  that does not exist, 503 when nothing listens behind its port.

Namespaces exist when named. Errors are `Status` objects with the API's codes (404, 409, 400, 410).
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

from tests.kubernetes.stand_in.store import Conflict, Gone, Obj, Store

# resource -> (group/version as in the path, kind)
RESOURCES = {
    "pods": ("v1", "Pod"), "services": ("v1", "Service"), "configmaps": ("v1", "ConfigMap"),
    "secrets": ("v1", "Secret"), "serviceaccounts": ("v1", "ServiceAccount"), "events": ("v1", "Event"),
    "deployments": ("apps/v1", "Deployment"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy"),
    "ingresses": ("networking.k8s.io/v1", "Ingress"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
}
KEPT_ON_APPLY = ("uid", "creationTimestamp", "generation", "resourceVersion", "namespace")


def status(code: int, reason: str, message: str) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(f"{self.command} {self.path}")

    # --- routing ------------------------------------------------------------------------

    def _route(self) -> tuple[str, str, str, str, dict[str, str]] | None:
        """(resource, namespace, name, subresource, query) of the request, or None."""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            rest = parts[3:]
        else:
            return None
        if len(rest) < 3 or rest[0] != "namespaces" or rest[2] not in RESOURCES:
            return None
        name = rest[3] if len(rest) > 3 else ""
        sub = rest[4] if len(rest) > 4 else ""
        return rest[2], rest[1], name, sub, query

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        return yaml.safe_load(raw) if "yaml" in (self.headers.get("Content-Type") or "") else json.loads(raw)

    def _send(self, code: int, payload: Obj) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, resource: str, name: str) -> None:
        self._send(404, status(404, "NotFound", f'{resource} "{name}" not found'))

    def do_GET(self) -> None:
        if self._proxy():
            return None
        route = self._route()
        if route is None:
            return self._send(404, status(404, "NotFound", f"the server could not find {self.path}"))
        resource, ns, name, sub, query = route
        store = self.server.store
        if not name:
            if query.get("watch") in ("true", "1"):
                return self._watch(resource, ns, query)
            items = store.items(resource, ns, query.get("labelSelector", ""))
            version, kind = RESOURCES[resource]
            return self._send(200, {"kind": f"{kind}List", "apiVersion": version, "items": items,
                                    "metadata": {"resourceVersion": str(store.version)}})
        obj = store.get(resource, ns, name)
        if obj is None:
            return self._not_found(resource, name)
        if sub == "log":
            return self._log(ns, name, query)
        if sub == "scale":
            return self._send(200, self._scale_of(obj))
        return self._send(200, obj)

    def do_POST(self) -> None:
        route = self._route()
        if route is None or route[2]:
            return self._send(405, status(405, "MethodNotAllowed", "POST only creates"))
        resource, ns, _, _, _ = route
        body = self._body()
        try:
            return self._send(201, self.server.store.create(resource, ns, self._typed(resource, body)))
        except Conflict as exc:
            return self._send(409, status(409, "AlreadyExists", f'{resource} "{exc}" already exists'))

    def do_PUT(self) -> None:
        route = self._route()
        if route is None or not route[2]:
            return self._send(405, status(405, "MethodNotAllowed", "PUT replaces one object"))
        resource, ns, name, sub, _ = route
        body = self._body()

        def replace(current: Obj) -> None:
            if sub == "status":
                current["status"] = body.get("status", {})
            elif sub == "scale":
                current["spec"]["replicas"] = body["spec"]["replicas"]
            else:
                meta = {k: current["metadata"][k] for k in KEPT_ON_APPLY if k in current["metadata"]}
                current.clear()
                current.update(self._typed(resource, body))
                current["metadata"].update(meta)

        updated = self.server.store.update(resource, ns, name, replace)
        if updated is None:
            return self._not_found(resource, name)
        return self._send(200, self._scale_of(updated) if sub == "scale" else updated)

    def do_PATCH(self) -> None:
        route = self._route()
        if route is None or not route[2]:
            return self._send(405, status(405, "MethodNotAllowed", "PATCH changes one object"))
        resource, ns, name, sub, query = route
        content_type = self.headers.get("Content-Type") or ""
        body = self._body()
        store = self.server.store
        if "apply-patch" in content_type:
            if not query.get("fieldManager"):
                return self._send(400, status(400, "BadRequest", "fieldManager is required for apply patch"))
            return self._apply(resource, ns, name, self._typed(resource, body), query["fieldManager"])
        if "json-patch+json" in content_type:
            return self._send(415, status(415, "UnsupportedMediaType", "the stand-in takes merge patches only"))

        def patch(current: Obj) -> None:
            if sub == "scale":
                current["spec"]["replicas"] = body["spec"]["replicas"]
            elif sub == "status":
                current["status"] = merge(current.get("status", {}), body.get("status", {}))
            else:
                current.update(merge(current, body))

        updated = store.update(resource, ns, name, patch)
        if updated is None:
            return self._not_found(resource, name)
        return self._send(200, self._scale_of(updated) if sub == "scale" else updated)

    def do_DELETE(self) -> None:
        route = self._route()
        if route is None:
            return self._send(404, status(404, "NotFound", self.path))
        resource, ns, name, _, query = route
        self._body()  # DeleteOptions, read and ignored: deletion is immediate here
        store = self.server.store
        if name:
            gone = store.delete(resource, ns, name)
            if gone is None:
                return self._not_found(resource, name)
            return self._send(200, gone)
        items = store.items(resource, ns, query.get("labelSelector", ""))
        for item in items:
            store.delete(resource, ns, item["metadata"]["name"])
        version, kind = RESOURCES[resource]
        return self._send(200, {"kind": f"{kind}List", "apiVersion": version, "items": items, "metadata": {}})

    # --- the parts with behaviour ---------------------------------------------------------

    def _proxy(self) -> bool:
        """Answer `/api/v1/namespaces/{ns}/pods/{name}[:{port}]/proxy[/{path}]` as the API server does (True),
        authenticating the caller first; False for any other path."""
        url = urlsplit(self.path)
        parts = url.path.split("/")
        if parts[1:4] != ["api", "v1", "namespaces"] or len(parts) < 8 or parts[5] != "pods" or parts[7] != "proxy":
            return False
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self.server.refused.append(self.path)
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return True
        ns, (pod, _, port) = parts[4], parts[6].partition(":")
        if self.server.store.get("pods", ns, pod) is None:
            self._not_found("pods", pod)
            return True
        upstream = self.server.proxied.get((ns, pod, int(port or 80)))
        refused = status(503, "ServiceUnavailable", f"error trying to reach service: dial tcp {pod}:{port}: "
                                                     "connect: connection refused")
        if upstream is None:
            self._send(503, refused)
            return True
        try:
            answer = httpx.get(f"{upstream}/{'/'.join(parts[8:])}" + (f"?{url.query}" if url.query else ""),
                               timeout=10, trust_env=False)
        except httpx.TransportError:
            self._send(503, refused)
            return True
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)
        return True

    def _typed(self, resource: str, body: Obj) -> Obj:
        version, kind = RESOURCES[resource]
        body = copy.deepcopy(body or {})
        body.setdefault("apiVersion", version)
        body.setdefault("kind", kind)
        body.setdefault("metadata", {})
        return body

    def _apply(self, resource: str, ns: str, name: str, applied: Obj, manager: str) -> None:
        store = self.server.store
        applied["metadata"]["name"] = name
        applied["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply"}]

        def apply(current: Obj) -> None:
            kept = {k: current["metadata"][k] for k in KEPT_ON_APPLY if k in current["metadata"]}
            new = copy.deepcopy(applied)
            if "status" in current:
                new["status"] = current["status"]
            if resource == "deployments" and "replicas" not in new.get("spec", {}):
                new["spec"]["replicas"] = current["spec"].get("replicas", 1)
            new["metadata"].update(kept)
            current.clear()
            current.update(new)

        updated = store.update(resource, ns, name, apply)
        if updated is None:
            try:
                if resource == "deployments":
                    applied.setdefault("status", {})
                    applied["spec"].setdefault("replicas", 1)
                updated = store.create(resource, ns, applied)
            except Conflict:  # created between the two steps: apply again
                return self._apply(resource, ns, name, applied, manager)
            return self._send(201, updated)
        return self._send(200, updated)

    def _scale_of(self, deployment: Obj) -> Obj:
        meta = deployment["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                "spec": {"replicas": deployment["spec"].get("replicas", 1)},
                "status": {"replicas": deployment.get("status", {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in
                                                deployment["spec"]["selector"]["matchLabels"].items())}}

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _watch(self, resource: str, ns: str, query: dict[str, str]) -> None:
        store = self.server.store
        selector = query.get("labelSelector", "")
        timeout_s = float(query.get("timeoutSeconds") or 300)
        since = query.get("resourceVersion") or "0"
        self._start_stream("application/json")
        try:
            if since == "0":  # "any": the current objects first, as ADDED
                with store.changed:
                    since = str(store.version)
                    current = store.items(resource, ns, selector)
                for obj in current:
                    self._chunk(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            for event in store.events_after(int(since), resource, ns, selector, timeout_s):
                self._chunk(json.dumps({"type": event.type, "object": event.object}).encode() + b"\n")
        except Gone as exc:
            self._chunk(json.dumps({"type": "ERROR", "object": status(410, "Expired", str(exc))}).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            return
        self._end_stream()

    def _log(self, ns: str, pod: str, query: dict[str, str]) -> None:
        """`pods/{name}/log` as the API server answers it from the kubelet: the container's log (`container`,
        needed when the pod has several), or its previous container's (`previous=true`, 400 when there is
        none); `timestamps=true` prefixes each line with its RFC3339Nano time and a space; `sinceTime`
        (RFC 3339) or `sinceSeconds` keep lines stamped at or after it, `tailLines` the last N (applied
        first, as the kubelet does), `limitBytes` stops after that many bytes (in the middle of a line if
        so); `follow=true` then sends lines as they are written, until the container restarts or the pod
        goes. Only a pod's first container has a log here; its init containers' logs are empty."""
        store = self.server.store
        found = store.get("pods", ns, pod) or {}
        containers = [c["name"] for c in found.get("spec", {}).get("containers") or []]
        inits = [c["name"] for c in found.get("spec", {}).get("initContainers") or []]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            return self._send(400, status(400, "BadRequest", f"a container name must be specified for pod {pod}, "
                                                             f"choose one of: {containers}"))
        if container not in containers + inits:
            return self._send(400, status(400, "BadRequest", f'container {container} is not valid for pod {pod}'))
        if query.get("sinceTime") and query.get("sinceSeconds"):
            return self._send(400, status(400, "BadRequest", "at most one of sinceTime or sinceSeconds may be specified"))
        since = _since_ns(query)
        if since is False:
            return self._send(400, status(400, "BadRequest", f'invalid sinceTime "{query.get("sinceTime")}"'))
        main, previous = container == containers[0], query.get("previous") == "true"
        with store.changed:
            if previous:
                kept = store.previous_logs.get((ns, pod)) if main else None
                if kept is None:
                    return self._send(400, status(400, "BadRequest",
                                                  f'previous terminated container "{container}" in pod "{pod}" not found'))
            elif main and (ns, pod) not in store.logs:
                return self._send(400, status(400, "BadRequest", f'container "{container}" in pod "{pod}" is '
                                                                 "waiting to start: ContainerCreating"))
            else:
                kept = store.logs[(ns, pod)] if main else []
            lines = list(kept)
        sent = len(lines)
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) > 0 else []
        budget = int(query["limitBytes"]) if query.get("limitBytes") else None
        stamped = query.get("timestamps") == "true"

        def encoded(batch: list[tuple[int, str]]) -> bytes:
            nonlocal budget
            data = b"".join((f"{rfc3339nano(at)} " if stamped else "").encode() + line.encode() + b"\n"
                            for at, line in batch if since is None or at >= since)
            if budget is not None:
                data, budget = data[:budget], max(0, budget - len(data))
            return data

        self._start_stream("text/plain")
        try:
            if data := encoded(lines):
                self._chunk(data)
            while query.get("follow") == "true" and not previous and main and budget != 0 and not store.stopped:
                with store.changed:
                    if store.logs.get((ns, pod)) is not kept or store.get("pods", ns, pod) is None:
                        break  # the container restarted (a new log) or the pod is gone: the stream ends
                    new = kept[sent:]
                    if not new:
                        store.changed.wait(0.5)
                        continue
                sent += len(new)
                if data := encoded(new):
                    self._chunk(data)
        except (BrokenPipeError, ConnectionResetError):
            return None
        self._end_stream()
        return None


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano, as the kubelet stamps log lines: trailing zeros of the fraction dropped."""
    seconds, fraction = divmod(ns, 10**9)
    digits = f"{fraction:09d}".rstrip("0")
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (f".{digits}" if digits else "") + "Z"


def _since_ns(query: dict[str, str]) -> int | bool | None:
    """The first stamp kept (ns since the epoch), None for all, False for a sinceTime that does not parse."""
    if query.get("sinceSeconds"):
        return time.time_ns() - int(query["sinceSeconds"]) * 10**9
    if not query.get("sinceTime"):
        return None
    try:
        when = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
    except ValueError:
        return False
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: Store) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.store = store
        self.requests: list[str] = []
        self.token = "stand-in-token"  # noqa: S105 - the kubeconfig's (StandInCluster.kubeconfig), checked by the pod proxy
        self.proxied: dict[tuple[str, str, int], str] = {}  # (namespace, pod, port) -> base URL of a real server
        self.refused: list[str] = []  # paths refused for want of the token
        self.connections: set[socket.socket] = set()
        self.thread = threading.Thread(target=self.serve_forever, name="k8s-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> StandInServer:
        self.thread.start()
        return self

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def stop(self) -> None:
        """Stop answering, and close the kept-alive connections too (as a stopped API server does)."""
        with self.store.changed:
            self.store.stopped = True
            self.store.changed.notify_all()
        self.shutdown()
        self.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
