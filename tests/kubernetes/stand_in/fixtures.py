"""Pytest fixtures that start the API stand-in and point the console's settings at it (per test)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.stand_in.cluster import StandInCluster


@pytest.fixture
def cluster() -> Iterator[StandInCluster]:
    running = StandInCluster().start()
    yield running
    running.stop()


@pytest.fixture
def on_stand_in(settings: Any, cluster: StandInCluster, tmp_path: Path) -> StandInCluster:
    """This test's console runs deployments on the stand-in cluster (its settings only)."""
    settings.BERTH_BACKEND = "kubernetes"
    settings.BERTH_KUBECONFIG = str(cluster.kubeconfig(tmp_path / "kubeconfig"))
    settings.BERTH_MODEL_SERVER_IMAGE = "registry.example.com/berth/model-server:1.0"
    settings.BERTH_ROLLOUT_POLL_S = 0.1
    return cluster


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    """Wait for `check()` to return something true (generous deadline; never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
