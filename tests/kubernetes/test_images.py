"""The images in docker/: they parse, hold what the pods run, and the model-server image holds
exactly what serving/ needs, at the versions the console validates builds with.

No Docker daemon runs here, so nothing is built: `dockerfile-parse` reads the Dockerfiles the way
the builder splits them into instructions, and the checks are about what those instructions do.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

from deployments.backends.kubernetes.variation_deployment import FETCH_SCRIPT, RUN_AS_USER
from tests.kubernetes.conftest import CLUSTER, REPO, Deployed, shipped_documents

DOCKER = REPO / "docker"


def instructions(name: str, kind: str) -> list[str]:
    parsed = DockerfileParser(str(DOCKER / name))
    return [i["value"] for i in parsed.structure if i["instruction"] == kind]


def copies(name: str) -> dict[str, str]:
    """COPY source -> destination."""
    return dict(value.split() for value in instructions(name, "COPY"))


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#]+)", line)
        if match:
            found[canonical(match[1])] = match[3]
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_both_dockerfiles_parse_and_run_as_the_pods_non_root_user() -> None:
    for name in ("console.Dockerfile", "model-server.Dockerfile"):
        parsed = DockerfileParser(str(DOCKER / name))
        assert parsed.baseimage.startswith("python:3.11-slim")
        assert instructions(name, "USER")[-1] == f"{RUN_AS_USER}:{RUN_AS_USER}"  # numeric, as runAsNonRoot needs
        for source in copies(name):
            assert (REPO / source).exists(), f"{name} copies {source}, which is not in the repository"


def test_the_model_server_image_holds_serving_and_its_fetch_script_only() -> None:
    assert set(copies("model-server.Dockerfile")) == {"requirements-serving.txt", "serving/", "docker/fetch_build.py"}
    assert copies("model-server.Dockerfile")["docker/fetch_build.py"] == FETCH_SCRIPT
    kept = [line[1:] for line in (DOCKER / "model-server.Dockerfile.dockerignore").read_text().splitlines()
            if line.startswith("!")]
    assert set(kept) == set(copies("model-server.Dockerfile"))  # the build context holds nothing else


def test_the_model_server_images_versions_are_the_consoles() -> None:
    serving, console = pins(REPO / "requirements-serving.txt"), pins(REPO / "requirements.txt")
    assert {name: console.get(name) for name in serving} == serving


def test_everything_serving_imports_is_installed_in_the_model_server_image() -> None:
    imported: set[str] = set()
    for path in [*(REPO / "serving").rglob("*.py"), DOCKER / "fetch_build.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"serving", "__future__"}
    providers = importlib.metadata.packages_distributions()
    installed = set(pins(REPO / "requirements-serving.txt"))
    missing = {module for module in third_party
               if not {canonical(d) for d in providers.get(module, [])} & installed}
    assert not missing, f"serving/ imports {sorted(missing)}, which requirements-serving.txt does not install"


def test_the_console_image_starts_the_web_process_the_kubernetes_manifest_starts() -> None:
    cmd = json.loads(instructions("console.Dockerfile", "CMD")[-1])
    web = next(d for _, d in shipped_documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "berth-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["command"] == cmd


def test_every_shipped_pod_runs_as_the_images_user() -> None:
    for _, document in shipped_documents():
        if document["kind"] == "Deployment":
            assert document["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == RUN_AS_USER


def test_generated_pods_run_the_configured_model_server_image_and_its_fetch_script(deployed: Deployed) -> None:
    pod = deployed.pod("default")
    assert {c["image"] for c in [*pod["initContainers"], *pod["containers"]]} == {CLUSTER.model_server_image}
    assert pod["initContainers"][0]["command"] == ["python", FETCH_SCRIPT]
    assert pod["securityContext"]["runAsUser"] == RUN_AS_USER


def test_the_compose_file_runs_every_console_process_from_one_image() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "runtime", "web", "worker", "beat"}
    console = {name: services[name] for name in ("migrate", "runtime", "web", "worker", "beat")}
    assert {s["image"] for s in console.values()} == {"berth/console:local"}
    assert {s["build"]["dockerfile"] for s in console.values()} == {"docker/console.Dockerfile"}
    assert (DOCKER / services["web"]["build"]["context"] / "manage.py").exists()
    assert services["web"]["command"][:4] == ["python", "-m", "uvicorn", "console.asgi:application"]
    assert services["worker"]["command"][:6] == ["python", "-m", "celery", "-A", "console", "worker"]
    assert services["beat"]["command"][:6] == ["python", "-m", "celery", "-A", "console", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    environment = services["web"]["environment"]
    assert environment["DATABASE_URL"].endswith("@127.0.0.1:5433/berth")
    assert "port=5433" in services["postgres"]["command"]
