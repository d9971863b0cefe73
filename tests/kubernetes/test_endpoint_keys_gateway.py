"""The gateway pod's program, given its keys the way the kubelet gives them: a real gateway process.

The generated routes ConfigMap and keys Secret are written as the kubelet mounts them (a directory
per volume: the files under a timestamped directory, `..data` linking to it, each file a link
through `..data`; an update writes a new directory and swaps `..data`), and the gateway runs with
the generated container's own arguments, its mount paths moved to this test's directory. The one
change to the generated files: each variation's endpoint, a cluster Service name here, becomes a
real model server on this machine (what the Service would forward to).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.backends.kubernetes.example import CLUSTER, TARGET, example_variations
from deployments.backends.kubernetes.gateway_objects import KEYS_FILE, ROUTES_FILE, gateway_keys_secret
from deployments.backends.kubernetes.manifests import build_manifests
from tests.serving.test_gateway_http import ROW, GatewayProcess
from tests.serving.test_server_http import ROOT, echo_replica

BILLING, BATCH, STRANGER = "bek_" + "b" * 43, "bek_" + "o" * 43, "bek_" + "s" * 43


def accepted(key_id: str, raw: str) -> dict[str, Any]:
    return {"id": key_id, "sha256": hashlib.sha256(raw.encode()).hexdigest(), "expires_at": None}


class KubeletVolume:
    """A ConfigMap or Secret volume as the kubelet lays it out and updates it (its atomic writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)

    def write(self, files: dict[str, bytes]) -> None:
        old = (self.path / "..data").resolve() if (self.path / "..data").exists() else None
        fresh = self.path / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        fresh.mkdir()
        for name, content in files.items():
            (fresh / name).write_bytes(content)
        (self.path / "..data_tmp").symlink_to(fresh.name)
        os.replace(self.path / "..data_tmp", self.path / "..data")  # the one atomic step
        for name in files:
            if not (self.path / name).is_symlink():
                (self.path / name).symlink_to(f"..data/{name}")
        if old is not None:
            shutil.rmtree(old)


def objects(keys: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The generated routes ConfigMap, keys Secret and gateway Deployment of a deployment requiring keys."""
    made = build_manifests(TARGET, example_variations(), CLUSTER, keys)
    gateway = [o for o in made if o["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]
    return (next(o for o in gateway if o["kind"] == "ConfigMap"), next(o for o in gateway if o["kind"] == "Secret"),
            next(o for o in gateway if o["kind"] == "Deployment"))


def secret_files(secret: dict[str, Any]) -> dict[str, bytes]:
    """What the kubelet writes for a Secret: each `data` key a file of its decoded value."""
    return {name: base64.b64decode(value) for name, value in secret["data"].items()}


class PodGateway(GatewayProcess):
    """The gateway container's command and args, with its volumes mounted under `root`."""

    def __init__(self, root: Path, deployment: dict[str, Any], replica: str) -> None:
        super().__init__(root)
        self.pod = deployment["spec"]["template"]["spec"]
        self.container = self.pod["containers"][0]
        self.volumes = {m["mountPath"]: root / m["name"] for m in self.container["volumeMounts"]
                        if m["name"] != "tmp"}
        self.mounted = {path.name: KubeletVolume(path) for path in self.volumes.values()}
        self.replica = replica
        self.version = ""

    def mount(self, config_map: dict[str, Any] | None = None, secret: dict[str, Any] | None = None) -> None:
        if config_map is not None:
            routes = json.loads(config_map["data"][ROUTES_FILE])
            for variation in routes["variations"]:
                variation["endpoints"] = [self.replica]  # the Service's pods: a real model server here
            self.mounted["routes"].write({ROUTES_FILE: json.dumps(routes).encode()})
            self.version = routes["version"]
        if secret is not None:
            self.mounted["keys"].write(secret_files(secret))

    def args(self) -> list[str]:
        args = list(self.container["args"])
        for i, arg in enumerate(args):
            for mount_path, local in self.volumes.items():
                if arg.startswith(mount_path + "/"):
                    args[i] = str(local) + arg[len(mount_path):]
        args[args.index("--host") + 1] = "127.0.0.1"
        args[args.index("--port") + 1] = str(self.port)
        return args

    def start_pod(self) -> PodGateway:
        assert self.container["command"] == ["python", "-m", "serving.gateway"]
        self.routes = self.volumes["/etc/berth/routes"] / ROUTES_FILE
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this Python running our own gateway
                [sys.executable, "-m", "serving.gateway", *self.args()], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self

    def call(self, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(self.url(f"/v1/models/{TARGET.model_id}/predict"), json=[ROW], headers=headers, timeout=10)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with echo_replica(tmp_path_factory.mktemp("k8s-keys-replica"), "--max-batch-size", "1") as server:
        yield server.base


@pytest.fixture
def pod(tmp_path: Path, replica: str) -> Iterator[PodGateway]:
    config_map, secret, deployment = objects([accepted("12", BILLING), accepted("13", BATCH)])
    gateway = PodGateway(tmp_path, deployment, replica)
    gateway.mount(config_map, secret)
    gateway.start_pod()
    gateway.wait_for_version(gateway.version)
    yield gateway
    gateway.stop()


def test_a_call_without_a_key_or_with_a_wrong_one_gets_401_json(pod: PodGateway) -> None:
    for key in (None, STRANGER):
        answer = pod.call(key)
        assert answer.status_code == 401, key
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["status"] == 401


def test_a_valid_key_reaches_the_model(pod: PodGateway) -> None:
    answer = pod.call(BILLING)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-berth-variation"] in ("default", "challenger")


def test_a_revoked_key_is_refused_once_the_kubelet_swaps_the_secrets_file(pod: PodGateway) -> None:
    assert pod.call(BATCH).status_code == 200
    before = (pod.volumes["/etc/berth/keys"] / KEYS_FILE).resolve()

    pod.mount(secret=gateway_keys_secret(TARGET, "berth-fraud", [accepted("12", BILLING)]))  # 13 revoked

    assert (pod.volumes["/etc/berth/keys"] / KEYS_FILE).resolve() != before  # a new file, as the kubelet writes
    deadline = time.monotonic() + 15
    while pod.call(BATCH).status_code != 401:
        assert time.monotonic() < deadline, f"the revoked key still works:\n{pod.log_path.read_text()}"
        time.sleep(0.2)
    assert "not accepted" in pod.call(BATCH).json()["error"]
    assert pod.call(BILLING).status_code == 200  # the others keep working, without a restart
    assert pod.process.poll() is None


def test_a_gateway_whose_keys_are_not_mounted_yet_serves_no_predict_call(tmp_path: Path, replica: str) -> None:
    """Keys required but the file missing (the Secret not synced yet): closed, never open."""
    config_map, secret, deployment = objects([accepted("12", BILLING)])
    gateway = PodGateway(tmp_path, deployment, replica)
    gateway.mount(config_map)
    gateway.start_pod()
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ready = httpx.get(gateway.url("/health/ready"), timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, gateway.log_path.read_text()
                time.sleep(0.1)
        assert ready.status_code == 503
        assert gateway.call(BILLING).status_code == 503
        assert gateway.call().status_code == 503

        gateway.mount(secret=secret)  # the kubelet catches up

        gateway.wait_for_version(gateway.version)
        assert gateway.call().status_code == 401
        assert gateway.call(BILLING).status_code == 200
    finally:
        gateway.stop()

