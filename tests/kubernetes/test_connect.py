"""The console reads its kubeconfig once per process while the file stays the same (the collector asks
for a backend per deployment each round), and reads it again when the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from deployments.backends.base import BackendError, get_backend
from deployments.backends.kubernetes.backend import KubernetesBackend
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import StandInCluster

cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in


def token_of(backend: KubernetesBackend) -> str:
    return str(backend.api.api_client.configuration.auth_settings()["BearerToken"]["value"])


def as_kubernetes(backend: object) -> KubernetesBackend:
    assert isinstance(backend, KubernetesBackend)
    return backend


def test_backends_share_one_client_until_the_kubeconfig_changes(on_stand_in: StandInCluster, settings) -> None:
    first, second = as_kubernetes(get_backend()), as_kubernetes(get_backend())
    assert first.api.api_client is second.api.api_client

    path = Path(settings.BERTH_KUBECONFIG)
    kubeconfig = yaml.safe_load(path.read_text())
    kubeconfig["users"][0]["user"]["token"] = "a-rotated-token"  # noqa: S105 - a test token
    path.write_text(yaml.safe_dump(kubeconfig))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # even on a coarse clock
    third = as_kubernetes(get_backend())

    assert third.api.api_client is not first.api.api_client
    assert token_of(third) == "Bearer a-rotated-token"
    assert token_of(first) == f"Bearer {on_stand_in.server.token}"


def test_a_missing_kubeconfig_is_an_error_that_names_the_setting(settings, tmp_path: Path) -> None:
    settings.BERTH_BACKEND = "kubernetes"
    settings.BERTH_KUBECONFIG = str(tmp_path / "nowhere.yaml")

    with pytest.raises(BackendError, match="BERTH_KUBECONFIG"):
        get_backend()
