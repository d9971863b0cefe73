"""What a variation's Deployment and its pods say, turned into Berth's replica states and reasons.

Pods have no stable index; a replica's name (`ReplicaId`) is made here from the pod's variation,
the runtime key of its template (`berth.dev/runtime-key`) and its place among that template's
pods ordered by creation, so the rollout engine finds "default-3f9a1c2e-0" as it does locally.

The Deployment's conditions are trusted only once `status.observedGeneration >=
metadata.generation` (what `kubectl rollout status` assumes): before that its controller has not
seen the spec just applied. `ProgressDeadlineExceeded` is then added to every waiting pod's
reason. A pod's own state gives the plain-words reason: ImagePullBackOff, CrashLoopBackOff with
the last lines of the exited container, OOMKilled, Unschedulable (e.g. no node with a free GPU),
a failing readiness probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from deployments.backends.base import ReplicaState, ReplicaStatus
from deployments.backends.kubernetes.labels import RUNTIME_KEY_LABEL, VARIATION_LABEL
from deployments.backends.replica_id import ReplicaId

Obj = dict[str, Any]
LogReader = Callable[[str], list[str]]  # pod name -> the previous container's last lines


def deployment_problem(deployment: Obj) -> str:
    """Why the Deployment's rollout stopped progressing ("" while it progresses or when its status is stale)."""
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1):
        return ""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            deadline = deployment["spec"].get("progressDeadlineSeconds", 600)
            return f"ProgressDeadlineExceeded: the new pods were not all ready within {deadline} s"
    return ""


def replica_statuses(deployment_pk: int, pods: list[Obj], problems: dict[str, str], endpoint: Callable[[Obj], str],
                     previous_log: LogReader) -> list[ReplicaStatus]:
    """Every model-server pod as a replica; `problems` maps a variation to its Deployment's problem."""
    return [pod_status(rid, pod, endpoint(pod), problems.get(rid.variation, ""), previous_log)
            for rid, pod in named_pods(deployment_pk, pods)]


def named_pods(deployment_pk: int, pods: list[Obj]) -> list[tuple[ReplicaId, Obj]]:
    """Each running model-server pod with its replica name, in a stable order."""
    groups: dict[tuple[str, str], list[Obj]] = {}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if pod["metadata"].get("deletionTimestamp"):
            continue  # terminating: no longer a replica of anything
        groups.setdefault((labels.get(VARIATION_LABEL, ""), labels.get(RUNTIME_KEY_LABEL, "")), []).append(pod)
    named = []
    for (variation, key), members in sorted(groups.items()):
        members.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
        named += [(ReplicaId(deployment_pk, variation, key, index), pod) for index, pod in enumerate(members)]
    return named


def pod_status(rid: ReplicaId, pod: Obj, endpoint: str, problem: str, previous_log: LogReader) -> ReplicaStatus:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    main = containers[0] if containers else {}
    restarts = int(main.get("restartCount") or 0)
    last = (main.get("lastState") or {}).get("terminated") or {}
    exit_code = last.get("exitCode")
    memory_killed = last.get("reason") == "OOMKilled"
    last_exit = _exit_words(last) if last else ""
    seen = ReplicaStatus(id=rid, endpoint=endpoint, state=ReplicaState.READY, restarts=restarts, exit_code=exit_code,
                         memory_killed=memory_killed, last_exit=last_exit)
    if _condition(status, "Ready") == "True":
        return seen
    state, reason, log = _why_not_ready(pod, status, main, previous_log)
    if problem:
        reason = f"{problem}; {reason}" if reason else problem
    return replace(seen, state=state, reason=reason, last_log=tuple(log))


def _why_not_ready(pod: Obj, status: Obj, main: Obj, previous_log: LogReader) -> tuple[ReplicaState, str, list[str]]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return ReplicaState.STARTING, _unschedulable(condition), []
    for init in status.get("initContainerStatuses") or []:
        waiting = (init.get("state") or {}).get("waiting") or {}
        failed = ((init.get("lastState") or {}).get("terminated") or {})
        if waiting.get("reason") in ("CrashLoopBackOff", "Error") or failed.get("exitCode"):
            return (ReplicaState.CRASHED, "Fetching the build failed (init container fetch-build): "
                    + (failed.get("message") or waiting.get("message") or waiting.get("reason", "")),
                    previous_log(pod["metadata"]["name"]))
    waiting = (main.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason", "")
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        return ReplicaState.NOT_READY, f"{reason}: the image cannot be pulled ({waiting.get('message', '')})", []
    if reason == "CrashLoopBackOff":
        last = (main.get("lastState") or {}).get("terminated") or {}
        log = previous_log(pod["metadata"]["name"])
        words = _exit_words(last) if last else "it keeps exiting"
        tail = f"; last lines: {' | '.join(log[-3:])}" if log else ""
        return ReplicaState.CRASHED, f"CrashLoopBackOff: {words}{tail}", log
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        return ReplicaState.CRASHED, f"{reason}: {waiting.get('message', '')}", []
    if main.get("started") is True or ((main.get("state") or {}).get("running") and main.get("restartCount")):
        return ReplicaState.NOT_READY, "Running, but its readiness probe (/health/ready) does not pass", []
    if reason:
        return ReplicaState.STARTING, f"{reason}: {waiting.get('message', '')}".rstrip(": "), []
    return ReplicaState.STARTING, "", []


def _unschedulable(condition: Obj) -> str:
    message = condition.get("message", "")
    if "nvidia.com/gpu" in message:
        return f"Unschedulable: no node has a free nvidia.com/gpu ({message})"
    return f"Unschedulable: no node can take it ({message})"


def _exit_words(terminated: Obj) -> str:
    if terminated.get("reason") == "OOMKilled":
        return "OOMKilled: killed for using more memory than its instance type allows"
    code = terminated.get("exitCode")
    return f"exited with code {code}" + (f" ({terminated['reason']})" if terminated.get("reason") not in (None, "Error") else "")


def _condition(status: Obj, kind: str) -> str:
    return next((c.get("status", "") for c in status.get("conditions") or [] if c.get("type") == kind), "")
