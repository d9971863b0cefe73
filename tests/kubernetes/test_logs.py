"""A Kubernetes deployment's logs, through the pod log API: the real adapter and `kubernetes` client over
HTTP to the API stand-in, whose log handler answers `timestamps`, `sinceTime`, `tailLines`, `previous`
and `follow` as the kubelet does.

What a viewer would notice: paging back through a replica's log neither skips nor repeats a line
(also where many lines carry the same timestamp); reading on from a cursor gives only the lines
written since; a restarted container's earlier lines are still there; the logs API filters a
Kubernetes deployment's lines as it does a local one's; the live tail gets lines written after it
started, also from a pod that started after it.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest

from deployments.backends.base import ReplicaState
from deployments.backends.kubernetes.backend import KubernetesBackend
from deployments.backends.log_files import RawLine
from deployments.logs.lines import parse
from deployments.models import Deployment, Model, Rollout
from tests.api.client import api_as
from tests.fixtures.people import logged_in
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import READY, StandInCluster
from tests.kubernetes.stand_in.fixtures import eventually
from tests.kubernetes.test_backend_apply import NAMESPACE, a_deployment

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
STARTUP = ["model loaded", "serving on 0.0.0.0:8080"]  # what each pod of the stand-in writes first


def running(cluster: StandInCluster, model: Model) -> tuple[Deployment, KubernetesBackend, dict[str, str]]:
    """A deployment of two ready replicas, its backend, and each replica's pod by the replica's name."""
    deployment, spec = a_deployment(model)
    deployment = Deployment.objects.select_related("model__project").get(pk=deployment.pk)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    backend.route(deployment, spec)
    ready = eventually(lambda: [r for r in backend.replicas(deployment) if r.state == ReplicaState.READY]
                       if len(backend.replicas(deployment)) == 2 else [], "two ready replicas")
    eventually(lambda: len(ready) == 2, "both ready")
    pods = {r.name: r.endpoint.split("/pods/")[1].split(":")[0] for r in backend.replicas(deployment)}
    eventually(lambda: all(cluster.store.logs.get((NAMESPACE, pod)) for pod in pods.values()), "their first lines")
    return deployment, backend, pods


def texts(lines: list[RawLine]) -> list[str]:
    return [line.text for line in lines]


def request_line(request_id: str, n: int = 0) -> str:
    return json.dumps({"ts": f"2026-12-02T12:00:{n:02d}Z", "level": "info", "event": "request", "pid": 7,
                       "request_id": request_id, "method": "POST", "path": "/v1/predict", "status": 200})


def test_paging_back_through_a_replicas_log_neither_skips_nor_repeats_a_line(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, backend, pods = running(on_stand_in, iris_model)
    replica, pod = next(iter(pods.items()))
    on_stand_in.store.write_log(NAMESPACE, pod, *[f"line {n:04d}" for n in range(1500)])
    tied = time.time_ns()  # where a first page's 1000-line window begins, 30 lines stamped the same nanosecond
    on_stand_in.store.write_log(NAMESPACE, pod, *[f"tied {n:02d}" for n in range(30)], at=tied)
    on_stand_in.store.write_log(NAMESPACE, pod, *[f"late {n:03d}" for n in range(985)])
    written = STARTUP + [f"line {n:04d}" for n in range(1500)] + [f"tied {n:02d}" for n in range(30)] + \
        [f"late {n:03d}" for n in range(985)]

    pages: list[list[RawLine]] = []
    before = None
    while not pages or pages[-1]:
        pages.append(list(islice(backend.read_log_backward(deployment, replica, before), 700)))
        before = pages[-1][-1].start if pages[-1] else None

    read = [line for page in pages for line in page]
    assert texts(read) == list(reversed(written))
    assert len({line.start for line in read}) == len(read)  # each line has a place of its own, ties too
    assert read[0].stamped is not None
    assert abs(read[0].stamped - time.time()) < 60  # the kubelet's time of the line


def test_reading_forward_from_a_cursor_gets_only_the_lines_written_since(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, backend, pods = running(on_stand_in, iris_model)
    replica, pod = next(iter(pods.items()))
    on_stand_in.store.write_log(NAMESPACE, pod, "old 1", "old 2")
    end = backend.log_end(deployment, replica)
    middle = next(line for line in backend.read_log_backward(deployment, replica, None) if line.text == "old 1")

    on_stand_in.store.write_log(NAMESPACE, pod, "new 1")  # the same second as the old lines, most likely
    on_stand_in.store.write_log(NAMESPACE, pod, "new 2", "new 3", at=time.time_ns())

    assert texts(list(backend.read_log_forward(deployment, replica, end))) == ["new 1", "new 2", "new 3"]
    assert texts(list(backend.read_log_forward(deployment, replica, middle.after))) == [
        "old 2", "new 1", "new 2", "new 3"]
    assert texts(list(backend.read_log_forward(deployment, replica, None)))[:3] == [*STARTUP, "old 1"]


def test_a_restarted_containers_earlier_lines_are_still_found(on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, backend, pods = running(on_stand_in, iris_model)
    replica, pod = next(iter(pods.items()))
    on_stand_in.store.write_log(NAMESPACE, pod, "Traceback (most recent call last):", "MemoryError")
    cursor = backend.log_end(deployment, replica)

    on_stand_in.restart(NAMESPACE, pod)
    eventually(lambda: [r for r in backend.replicas(deployment) if r.name == replica and r.restarts == 1],
               "the replica restarted")
    eventually(lambda: on_stand_in.store.logs.get((NAMESPACE, pod)), "the new container's first lines")
    backend = KubernetesBackend.from_settings()  # as the next request does (one listing of the pods serves one)

    newest_first = texts(list(backend.read_log_backward(deployment, replica, None)))
    assert newest_first == [*reversed(STARTUP), "MemoryError", "Traceback (most recent call last):", *reversed(STARTUP)]
    assert texts(list(backend.read_log_forward(deployment, replica, cursor))) == STARTUP
    assert replica in backend.log_sources(deployment)


def test_the_logs_api_gives_a_kubernetes_deployments_lines_filtered_by_request(
        on_stand_in: StandInCluster, iris_model: Model, bob: Any) -> None:
    deployment, _, pods = running(on_stand_in, iris_model)
    (first, first_pod), (second, second_pod) = sorted(pods.items())
    gateway = on_stand_in.pods(NAMESPACE, "app.kubernetes.io/component=gateway")[0]["metadata"]["name"]
    on_stand_in.store.write_log(NAMESPACE, first_pod, request_line("r-1", 1), request_line("r-2", 2),
                                "a print without a time of its own")
    on_stand_in.store.write_log(NAMESPACE, second_pod, request_line("r-2", 3))
    on_stand_in.store.write_log(NAMESPACE, gateway, request_line("r-2", 4))
    url = f"/api/v1/deployments/{deployment.pk}/logs/"

    everything = api_as(bob).get(url).json()
    by_request = api_as(bob).get(url, {"request_id": "r-2"}).json()
    one_replica = api_as(bob).get(url, {"replica": first, "limit": "1"}).json()
    older = api_as(bob).get(url, {"replica": first, "limit": "2", "before": one_replica["older"]}).json()

    assert [(line["replica"], line["request_id"]) for line in by_request["lines"]] == [
        (first, "r-2"), (second, "r-2"), ("gateway", "r-2")]
    assert [line["message"] for line in one_replica["lines"]] == ["a print without a time of its own"]
    assert [line["request_id"] for line in older["lines"]] == ["r-1", "r-2"]
    assert len({line["key"] for line in everything["lines"]}) == len(everything["lines"]) >= 4 + 3 * len(STARTUP) - 2
    on_stand_in.store.write_log(NAMESPACE, second_pod, request_line("r-3", 5))
    newer = api_as(bob).get(url, {"after": everything["newer"]}).json()
    assert [(line["replica"], line["request_id"]) for line in newer["lines"]] == [(second, "r-3")]


def test_following_gets_new_lines_also_from_a_pod_started_after_it(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, backend, pods = running(on_stand_in, iris_model)
    replica, pod = next(iter(pods.items()))
    on_stand_in.store.write_log(NAMESPACE, pod, "written a minute before", at=time.time_ns() - 60 * 10**9)
    variation = on_stand_in.store.items("deployments", NAMESPACE, "app.kubernetes.io/component=model-server")[0]
    build_id = Rollout.objects.get(deployment=deployment).spec["variations"][0]["build_id"]
    on_stand_in.behave(build_id, READY, ("a new pod's first line", "serving"))  # what pods started from now write

    lag: list[float] = []

    async def tick() -> None:  # what else the console's event loop serves meanwhile (sockets, other readers)
        while True:
            asked = time.monotonic()
            await asyncio.sleep(0.01)
            lag.append(time.monotonic() - asked - 0.01)

    async def follow() -> list[RawLine]:
        received: list[RawLine] = []
        stream = backend.follow_logs(deployment, 0.05)
        ticker = asyncio.create_task(tick())
        try:
            received += await anext(stream)  # it has looked at the pods
            await asyncio.sleep(0.3)
            await asyncio.to_thread(on_stand_in.store.write_log, NAMESPACE, pod, "written after it started")
            await asyncio.to_thread(on_stand_in.store.update, "deployments", NAMESPACE, variation["metadata"]["name"],
                                    lambda d: d["spec"].__setitem__("replicas", 3))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                received += await anext(stream)
                if {"written after it started", "serving"} <= {line.text for line in received}:
                    break
        finally:
            ticker.cancel()
            await stream.aclose()  # type: ignore[attr-defined]  # Backend.follow_logs says AsyncIterator
        return received

    received = asyncio.run(follow())

    from_first = [line.text for line in received if line.source == replica]
    new_source = next(line.source for line in received if line.text == "a new pod's first line")
    assert "written after it started" in from_first
    assert "written a minute before" not in from_first  # only the last seconds are sent again (FOLLOW_REWIND_NS)
    assert new_source != "gateway"
    assert [line.text for line in received if line.source == new_source][-2:] == ["a new pod's first line", "serving"]
    assert max(lag) < 2  # the pod listing and the streams' reads run in threads, never on the loop
    live = next(line for line in received if line.text == "written after it started")
    kept = next(line for line in backend.read_log_backward(deployment, replica, None) if line.text == live.text)
    assert parse(kept, datetime.now(UTC)).key == parse(live, datetime.now(UTC)).key  # the Logs tab shows it once


def test_the_logs_tab_shows_the_pods_lines_and_offers_their_replicas(
        on_stand_in: StandInCluster, iris_model: Model, bob: Any) -> None:
    deployment, _, pods = running(on_stand_in, iris_model)
    replica, pod = sorted(pods.items())[0]
    on_stand_in.store.write_log(NAMESPACE, pod, request_line("ab12cd34", 1), "model says hello")

    page = logged_in(bob).get(f"/deployments/{deployment.pk}/logs/").content.decode()

    assert f"12:00:01.000  INFO   {replica}  request  POST /v1/predict 200  req=ab12cd34" in page
    assert "model says hello" in page
    assert "does not keep logs" not in page
    assert all(f'value="{name}"' in page for name in [*pods, "gateway"])  # the replica filter's choices
