"""The generated pods' commands start the real programs, which serve a prediction together.

What the cluster would add is played here, plainly: the kubelet's part (env from the container
and its Secret, `$$` read as `$`), the init container's result (the build unpacked in place),
the pod's address (127.0.0.1 and a free port instead of 0.0.0.0:8080) and the Service (the
routes' Service URL replaced by the replica's address). The model server and the gateway run as
their own processes with exactly the generated arguments otherwise, so a flag the programs do
not know, or routes the gateway cannot use, fail here.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.backends.kubernetes.gateway_objects import ROUTES_FILE
from deployments.backends.ports import free_port
from serving.bundle import extract_archive
from tests.fixtures.builds import IRIS_ROW, python_bundle_files, tar_gz
from tests.kubernetes.conftest import REPO, Deployed


def container_env(container: dict[str, Any], secret: dict[str, Any], home: Path) -> dict[str, str]:
    """The env the kubelet gives the container: values with `$$` read as `$`, secret refs resolved."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    for item in container["env"]:
        if "valueFrom" in item:
            key = item["valueFrom"]["secretKeyRef"]["key"]
            env[item["name"]] = base64.b64decode(secret["data"][key]).decode()
        else:
            env[item["name"]] = item["value"].replace("$$", "$")
    env["HOME"] = str(home)
    return env


def with_flags(args: list[str], **values: str) -> list[str]:
    """`args` with the value after each `--flag` replaced (`build="…"` is `--build …`)."""
    args = list(args)
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        args[args.index(flag) + 1] = value
    return args


def start(container: dict[str, Any], args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable if part == "python" else part for part in container["command"]]
    with log.open("wb") as out:
        return subprocess.Popen([*command, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {deadline_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_generated_model_server_and_gateway_serve_a_prediction(
        deployed: Deployed, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    archive = tmp_path / "build.tar.gz"
    archive.write_bytes(tar_gz(python_bundle_files()))
    build_dir = extract_archive(archive, tmp_path / "pod" / "build")  # what the init container leaves

    pod = deployed.pod("default")
    server = pod["containers"][0]
    port = free_port()
    log = tmp_path / "server.log"
    processes.append(start(server, with_flags(server["args"], build=str(build_dir), host="127.0.0.1", port=str(port)),
                           container_env(server, deployed.one("Secret", "default"), tmp_path), log))
    replica = f"http://127.0.0.1:{port}"
    wait_ready(replica, processes[-1], log)
    assert httpx.get(f"{replica}/health/live", timeout=5).status_code == 200  # the liveness probe's path

    config = deployed.one("ConfigMap", component="gateway")
    routes = json.loads(config["data"][ROUTES_FILE])
    default_service = deployed.one("Service", "default")["metadata"]
    for variation in routes["variations"]:  # the Services: only default has a replica here
        variation["endpoints"] = [replica] if variation["name"] == "default" else []
    assert routes["variations"][0]["name"] == "default"
    assert default_service["name"] in config["data"][ROUTES_FILE]
    routes_file = tmp_path / ROUTES_FILE
    routes_file.write_text(json.dumps(routes))

    gateway = deployed.one("Deployment", component="gateway")["spec"]["template"]["spec"]["containers"][0]
    gateway_port = free_port()
    gateway_log = tmp_path / "gateway.log"
    processes.append(start(gateway, with_flags(gateway["args"], config=str(routes_file), host="127.0.0.1",
                                               port=str(gateway_port)),
                           {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}, gateway_log))
    entry = f"http://127.0.0.1:{gateway_port}"
    wait_ready(entry, processes[-1], gateway_log)

    answer = httpx.post(f"{entry}/v1/models/iris/predict", json=[IRIS_ROW], timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Berth-Variation"] == "default"
