"""The cluster's controllers, played for tests: what the API stand-in's objects do by themselves.

`StandInCluster` starts the HTTP server and a background thread that behaves like the cluster's
Deployment controller, scheduler and kubelet, every 50 ms:

- a Deployment gets pods for its replicas (labelled with a `pod-template-hash` of its template),
  with a surge of `maxSurge` (1) new pods while old ones still serve; an old pod is deleted only
  once a new one is ready (`maxUnavailable: 0`), so the old revision serves until the new one can;
- each pod's state follows what the test says its build does (`behave(build_id, ...)`): ready,
  starting slowly, failing its readiness probe, crash-looping (`CrashLoopBackOff` with its last log
  lines), killed for memory (`OOMKilled`), or an image that cannot be pulled. A pod asking for
  `nvidia.com/gpu` stays Pending and Unschedulable while the cluster has no GPU node (`gpu_nodes`);
- the Deployment's status: `observedGeneration`, replicas, updated/ready/available counts and
  the `Available` and `Progressing` conditions (`NewReplicaSetAvailable` when done,
  `ProgressDeadlineExceeded` after `progressDeadlineSeconds` without finishing).

Pods whose Deployment is gone are deleted (the garbage collector). `pause()` stops the controllers (status then lags behind `generation`, as on a busy cluster).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.kubernetes.stand_in.server import StandInServer
from tests.kubernetes.stand_in.store import Obj, Store

READY, SLOW, FAILING_PROBE, CRASH, OOM, BAD_IMAGE = "ready", "slow", "failing-probe", "crash", "oom", "bad-image"


@dataclass
class Behaviour:
    fate: str = READY
    log: tuple[str, ...] = ("model loaded", "serving on 0.0.0.0:8080")


@dataclass
class StandInCluster:
    store: Store = field(default_factory=Store)
    gpu_nodes: int = 0
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    paused: bool = False
    restarts: dict[tuple[str, str], int] = field(default_factory=dict)  # (namespace, pod) -> restarts asked for

    def __post_init__(self) -> None:
        self.server = StandInServer(self.store)
        self._stop = threading.Event()
        self._progress_since: dict[tuple[str, str, str], float] = {}
        self._thread = threading.Thread(target=self._run, name="k8s-stand-in-controllers", daemon=True)

    # --- life -----------------------------------------------------------------------------

    def start(self) -> StandInCluster:
        self.server.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.stop()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.server.url}}],
            "users": [{"name": "berth", "user": {"token": self.server.token}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "berth"}}],
        }))
        return path

    # --- what the test says ------------------------------------------------------------------

    def behave(self, build_id: str, fate: str, log: tuple[str, ...] = ()) -> None:
        self.behaviours[build_id] = Behaviour(fate, log or Behaviour.log)

    def restart(self, ns: str, pod: str) -> None:
        """The pod's main container exits and the kubelet starts it again (restartCount + 1): its log so far is
        the previous container's (`previous=true`), and the new one writes its build's first lines again."""
        with self.store.changed:
            self.restarts[(ns, pod)] = self.restarts.get((ns, pod), 0) + 1
            self.store.restart_log(ns, pod)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def objects(self, namespace: str | None = None) -> list[tuple[str, str, str]]:
        return [key for key in self.store.everything() if namespace is None or key[1] == namespace]

    def pods(self, namespace: str, selector: str = "") -> list[Obj]:
        return self.store.items("pods", namespace, selector)

    # --- the controllers ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if not self.paused:
                for deployment in self.store.items("deployments"):
                    self._reconcile(deployment)
                self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Delete pods whose Deployment is gone (one made just as its Deployment was deleted)."""
        owners = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in self.store.items("deployments")}
        for pod in self.store.items("pods"):
            owner = pod["metadata"].get("annotations", {}).get("stand-in/deployment")
            if owner and (pod["metadata"]["namespace"], owner) not in owners:
                self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _reconcile(self, deployment: Obj) -> None:
        ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        spec = deployment["spec"]
        wanted = spec.get("replicas", 1)
        surge = (spec.get("strategy", {}).get("rollingUpdate") or {}).get("maxSurge", 1)
        surge = surge if isinstance(surge, int) else 1
        template_hash = hashlib.sha256(json.dumps(spec["template"], sort_keys=True).encode()).hexdigest()[:10]
        pods = [p for p in self.store.items("pods", ns)
                if p["metadata"].get("annotations", {}).get("stand-in/deployment") == name]
        new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == template_hash]
        old = [p for p in pods if p not in new]
        for extra in new[wanted:]:
            self.store.delete("pods", ns, extra["metadata"]["name"])
        new = new[:wanted]
        while len(new) < wanted and len(new) + len(old) < wanted + surge:
            new.append(self._create_pod(ns, name, spec["template"], template_hash))
        new = [self._kubelet(ns, p) for p in new]
        ready_new = sum(_ready(p) for p in new)
        old.sort(key=_ready)  # not-ready old pods go first
        keep = max(0, wanted - ready_new)
        for gone in old[:len(old) - keep]:
            self.store.delete("pods", ns, gone["metadata"]["name"])
        old = old[len(old) - keep:]
        old = [self._kubelet(ns, p) for p in old]
        self._set_status(deployment, template_hash, new, old)

    def _create_pod(self, ns: str, deployment: str, template: Obj, template_hash: str) -> Obj:
        meta = template.get("metadata", {})
        pod = {"metadata": {"name": f"{deployment}-{template_hash[:8]}-{uuid.uuid4().hex[:5]}",
                            "labels": {**meta.get("labels", {}), "pod-template-hash": template_hash},
                            "annotations": {**meta.get("annotations", {}), "stand-in/deployment": deployment}},
               "spec": template["spec"], "status": {"phase": "Pending"}}
        return self.store.create("pods", ns, {"apiVersion": "v1", "kind": "Pod", **pod})

    def _kubelet(self, ns: str, pod: Obj) -> Obj:
        """Set the pod's status from what its build does (and whether a node can take it)."""
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        asks_gpu = "nvidia.com/gpu" in (container.get("resources", {}).get("limits") or {})
        build = next((e.get("value", "") for e in container.get("env", []) if e["name"] == "BERTH_BUILD_ID"), "")
        behaviour = self.behaviours.get(build, Behaviour())
        new_status = _pod_status(container["name"], behaviour.fate, unschedulable=asks_gpu and not self.gpu_nodes)
        if new_status["phase"] == "Running" and (ns, name) not in self.store.logs:
            self.store.write_log(ns, name, *behaviour.log)
        if behaviour.fate in (CRASH, OOM) and (ns, name) not in self.store.previous_logs:
            stamp = time.time_ns()
            self.store.previous_logs[(ns, name)] = [(stamp + n, line) for n, line in enumerate(behaviour.log)]
        restarts = self.restarts.get((ns, name), 0)
        if restarts and new_status.get("containerStatuses"):
            main = new_status["containerStatuses"][0]
            main["restartCount"] += restarts
            main["lastState"] = main["lastState"] or {"terminated": {
                "exitCode": 1, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"}}

        def change(current: Obj) -> None:
            current["status"] = new_status

        return self.store.update("pods", ns, name, change) or pod

    def _set_status(self, deployment: Obj, template_hash: str, new: list[Obj], old: list[Obj]) -> None:
        ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        wanted = deployment["spec"].get("replicas", 1)
        ready = sum(_ready(p) for p in new + old)
        done = len(new) == wanted and all(_ready(p) for p in new) and not old
        started = self._progress_since.setdefault((ns, name, template_hash), time.monotonic())
        deadline = deployment["spec"].get("progressDeadlineSeconds", 600)
        if done:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{name}-{template_hash}" has successfully progressed.')
        elif time.monotonic() - started > deadline:
            progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}-{template_hash}" has timed out progressing.')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}-{template_hash}" is progressing.')
        available = ("True", "MinimumReplicasAvailable") if ready >= wanted else ("False", "MinimumReplicasUnavailable")
        status = {
            "observedGeneration": deployment["metadata"]["generation"], "replicas": len(new) + len(old),
            "updatedReplicas": len(new), "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": max(0, len(new) + len(old) - ready),
            "conditions": [
                {"type": "Available", "status": available[0], "reason": available[1],
                 "message": "Deployment has minimum availability." if ready >= wanted
                 else "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2]},
            ]}

        def change(current: Obj) -> None:
            current["status"] = status

        self.store.update("deployments", ns, name, change)


def _ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def _pod_status(container: str, fate: str, unschedulable: bool) -> dict[str, Any]:
    if unschedulable:
        return {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
                       "available: 3 No preemption victims found for incoming pod."}]}
    state: dict[str, Any] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    last: dict[str, Any] = {}
    restarts, ready, started = 0, fate == READY, fate in (READY, FAILING_PROBE)
    if fate in (CRASH, OOM):
        restarts = 4
        state = {"waiting": {"reason": "CrashLoopBackOff",
                             "message": f"back-off 1m20s restarting failed container={container}"}}
        last = {"terminated": {"exitCode": 137 if fate == OOM else 1, "reason": "OOMKilled" if fate == OOM else "Error",
                               "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"}}
    elif fate == BAD_IMAGE:
        state = {"waiting": {"reason": "ImagePullBackOff",
                             "message": 'Back-off pulling image "berth/model-server:nope"'}}
    phase = "Pending" if fate == BAD_IMAGE else "Running"
    return {"phase": phase,
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True" if ready else "False"},
                           {"type": "ContainersReady", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": container, "ready": ready, "started": started, "restartCount": restarts,
                                   "image": "berth/model-server", "imageID": "", "state": state,
                                   "lastState": last}]}
