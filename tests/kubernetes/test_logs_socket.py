"""The Logs tab's live lines for a Kubernetes deployment: the real ASGI app, channels-redis, the one
reader per deployment (its Redis lease) following the pods through the pod log API of the stand-in."""

from __future__ import annotations

import time
from itertools import count
from typing import Any

import pytest

from deployments.models import Model
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import StandInCluster
from tests.kubernetes.test_backend_apply import NAMESPACE
from tests.kubernetes.test_logs import request_line, running
from tests.logs.test_logs_consumer import rows, run, two_viewers
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
_probes = count()


def test_a_line_a_pod_writes_reaches_a_viewer_and_its_filter_applies(
        on_stand_in: StandInCluster, iris_model: Model, bob: Any) -> None:
    deployment, _, pods = running(on_stand_in, iris_model)
    (_, first_pod), (second, second_pod) = sorted(pods.items())
    headers = session_headers(bob)

    async def scenario() -> None:
        everything, one_request = await two_viewers(deployment, headers)
        await following(on_stand_in, everything, first_pod)

        on_stand_in.store.write_log(NAMESPACE, second_pod, request_line("other"), request_line("wanted"))

        assert [rid for rid, _ in await lines(everything, until="wanted")] == ["other", "wanted"]
        filtered = await lines(one_request, until="wanted")
        assert [rid for rid, _ in filtered] == ["wanted"]
        assert f"{second}  request  POST /v1/predict 200" in filtered[0][1]  # the replica's name, as on the page
        await everything.disconnect()
        await one_request.disconnect()

    run(scenario)


async def following(cluster: StandInCluster, socket: Any, pod: str) -> None:
    """Write probe lines into a pod's log until one reaches the socket: a reader follows the pods."""
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "no log line reached the socket within 60 s"
        cluster.store.write_log(NAMESPACE, pod, request_line(f"probe-{next(_probes)}"))
        received = await rows(socket, timeout=0.5)
        if received and any("req=probe-" in text for _, text in received):
            return


async def lines(socket: Any, until: str) -> list[tuple[str, str]]:
    """(request id, text) of the lines the socket gets (probes left out) up to the one with `until`."""
    found: list[tuple[str, str]] = []
    while until not in [rid for rid, _ in found]:
        received = await rows(socket, timeout=30)
        assert received is not None, f"no line with request id {until} within 30 s (got {found})"
        found += [(rid, text) for _, text in received if not (rid := text.rsplit("req=", 1)[-1]).startswith("probe-")]
    return found
