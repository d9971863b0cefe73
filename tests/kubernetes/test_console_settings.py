"""The console starts from exactly the settings docker/kubernetes/ ships: the ConfigMap's
variables, and the Secret's keys as files where the web pod mounts them.

Settings are loaded in a fresh process, as in a pod, with no other Berth variable set. The pod's
mounts (/etc/berth/secrets, /var/lib/berth) are made in a temporary folder and the variables
that name them point there; nothing else is changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.kubernetes.conftest import REPO, shipped_documents

REPORT = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({"backend": s.BERTH_BACKEND, "data_dir": str(s.DATA_DIR), "secret_key": s.SECRET_KEY,
    "keys": s.BERTH_ENCRYPTION_KEYS, "db_host": s.DATABASES["default"]["HOST"], "redis": s.REDIS_URL,
    "hosts": s.ALLOWED_HOSTS, "ssl_redirect": s.SECURE_SSL_REDIRECT, "proxy_header": s.SECURE_PROXY_SSL_HEADER,
    "image": s.BERTH_MODEL_SERVER_IMAGE, "namespaces": s.BERTH_K8S_NAMESPACE_PATTERN,
    "console_url": s.BERTH_CONSOLE_INTERNAL_URL, "gateway_replicas": s.BERTH_K8S_GATEWAY_REPLICAS,
    "console_namespace": s.BERTH_K8S_CONSOLE_NAMESPACE}))
"""


def shipped(kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in shipped_documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def web_mounts() -> dict[str, str]:
    """The web container's mount paths by volume name."""
    web = shipped("Deployment", "berth-web")["spec"]["template"]["spec"]["containers"][0]
    return {m["name"]: m["mountPath"] for m in web["volumeMounts"]}


def load_settings(tmp_path: Path, secret_values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    mounts = web_mounts()
    pod_root = tmp_path / "pod"
    secrets_dir = pod_root / mounts["secrets"].lstrip("/")
    secrets_dir.mkdir(parents=True)
    for key, value in secret_values.items():
        (secrets_dir / key).write_text(value)
    env = dict(shipped("ConfigMap", "berth-settings")["data"])
    for key, value in env.items():
        if any(value.startswith(path) for path in mounts.values()):
            env[key] = str(pod_root / value.lstrip("/"))
    env |= {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "console.settings"}
    return subprocess.run([sys.executable, "-c", REPORT],  # noqa: S603 - our own interpreter and code
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def real_values() -> dict[str, str]:
    """What an operator puts in the Secret in place of its placeholders."""
    secret = shipped("Secret", "berth-secrets")["stringData"]
    return {**secret, "BERTH_SECRET_KEY": "k" * 50, "BERTH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": "postgresql://berth:pw@postgres.berth.svc:5432/berth",
            "REDIS_URL": "redis://redis.berth.svc:6379/0"}


def test_the_console_loads_its_settings_from_the_shipped_configmap_and_secret(tmp_path: Path) -> None:
    values = real_values()
    assert set(values) == set(shipped("Secret", "berth-secrets")["stringData"])  # every key the pods read, no more
    result = load_settings(tmp_path, values)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["backend"] == "kubernetes"
    assert loaded["data_dir"] == str(tmp_path / "pod" / "var/lib/berth")
    assert loaded["secret_key"] == values["BERTH_SECRET_KEY"]
    assert loaded["keys"] == [values["BERTH_ENCRYPTION_KEYS"]]
    assert loaded["db_host"] == "postgres.berth.svc"
    assert loaded["redis"] == values["REDIS_URL"]
    assert "berth-web.berth.svc" in loaded["hosts"]  # the replicas' init containers fetch builds by that name
    assert loaded["ssl_redirect"] is True
    assert loaded["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert loaded["image"].endswith("/berth/model-server:1.0")
    assert loaded["namespaces"] == "berth-{project}"
    assert loaded["console_url"] == "http://berth-web.berth.svc"
    assert loaded["gateway_replicas"] == 2
    assert loaded["console_namespace"] == "berth"


def test_the_shipped_placeholder_key_stops_the_console_with_a_message_saying_what_to_set(tmp_path: Path) -> None:
    result = load_settings(tmp_path, shipped("Secret", "berth-secrets")["stringData"])
    assert result.returncode != 0
    assert "BERTH_ENCRYPTION_KEYS" in result.stderr
    assert "not a valid Fernet key" in result.stderr


def test_the_console_the_settings_name_is_the_shipped_web_service() -> None:
    service = shipped("Service", "berth-web")
    data = shipped("ConfigMap", "berth-settings")["data"]
    assert data["BERTH_CONSOLE_INTERNAL_URL"] == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert data["BERTH_K8S_CONSOLE_NAMESPACE"] == service["metadata"]["namespace"]
    assert service["spec"]["ports"][0]["port"] == 80


@pytest.mark.parametrize("setting", ["BERTH_K8S_NAMESPACE_PATTERN", "BERTH_INGRESS_HOST_PATTERN"])
def test_a_pattern_with_an_unknown_placeholder_stops_the_console_naming_the_setting(tmp_path: Path,
                                                                                     setting: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BERTH_DATA_DIR": str(tmp_path / "data"),
           "DJANGO_SETTINGS_MODULE": "console.settings", setting: "berth-{team}"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert f"{setting}='berth-{{team}}': use only the placeholders" in result.stderr
