"""Attacks from inside a running replica: another deployment's secrets and files, the console's
services, the network. Real replicas under the real supervisord; each attack fails, unless the
deployment allows outbound network, which then reaches hosts (and, on the local runtime, this one).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from deployments.models import Model, RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.hostile import Listener, hostile_code, results
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)
VICTIM_SECRET = "victim-5e1d-secret"  # noqa: S105 - what the attack looks for


def serve(model: Model, code: str, user, **overrides) -> str:
    """Deploy `code` as `model`'s one replica; its prediction URL."""
    rollout = wait_for_rollout(deploy(model, spec(ready_build(model, code), **overrides), user))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    rollout.deployment.refresh_from_db()
    return rollout.deployment.predict_url


def attack_report(url: str) -> dict[str, str]:
    answer = httpx.post(url, json=[IRIS_ROW], timeout=30)
    assert answer.status_code == 200, answer.text
    return results(answer.json()[0]["report"])


def test_a_replica_reaches_nothing_of_the_console_or_of_other_deployments(supervisord, celery_worker, live_console,
                                                                          iris_model, alice):
    victim_model = Model.objects.create(project=iris_model.project, model_id="victim", name="Victim")
    victim = ready_build(victim_model)
    rollout = wait_for_rollout(deploy(victim_model, spec(victim, env=[
        {"name": "VICTIM_TOKEN", "value": VICTIM_SECRET, "secret": True}]), alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    redis, console = urlsplit(settings.REDIS_URL), urlsplit(live_console)
    database = settings.DATABASES["default"]
    listener = Listener()

    url = serve(iris_model, hostile_code(f"""
        attempt("uid", os.getuid)
        def scan_environ():
            hits = []
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    if {VICTIM_SECRET.encode()!r} in open(f"/proc/{{pid}}/environ", "rb").read():
                        hits.append(pid)
                except OSError:
                    pass
            return hits
        attempt("victim_environ", scan_environ)
        attempt("processes_seen", lambda: len([p for p in os.listdir("/proc") if p.isdigit()]))
        attempt("victim_bundle", lambda: os.listdir({str(victim.bundle_dir)!r}))
        attempt("runtime_dir", lambda: os.listdir({str(settings.BERTH_RUNTIME_DIR)!r}))
        attempt("data_dir", lambda: os.listdir({str(settings.DATA_DIR)!r}))
        attempt("redis", lambda: connect(({redis.hostname!r}, {redis.port or 6379}), send=b"PING\\r\\n"))
        attempt("postgres", lambda: connect(("127.0.0.1", {int(database.get("PORT") or 5432)})))
        attempt("console", lambda: connect(("127.0.0.1", {console.port}), send=b"GET / HTTP/1.0\\r\\n\\r\\n"))
        attempt("host_service", lambda: connect(("127.0.0.1", {listener.port})))
        attempt("supervisord", lambda: connect({settings.BERTH_SUPERVISOR_URL.removeprefix("unix://")!r},
                                               socket.AF_UNIX))
        attempt("outward", lambda: connect(("1.1.1.1", 443)))
    """, in_build=False), alice)
    found = attack_report(url)

    assert found["uid"] != "OK 0"
    assert found["victim_environ"] == "OK []"
    assert int(found["processes_seen"].removeprefix("OK ")) <= 4  # its own sandbox: init, server, worker(s)
    for name in ("victim_bundle", "runtime_dir", "data_dir", "supervisord"):
        assert found[name].startswith("FileNotFoundError"), (name, found[name])
    for name in ("redis", "postgres", "console", "host_service"):
        assert found[name].startswith("ConnectionRefusedError"), (name, found[name])
    assert found["outward"].startswith("OSError: [Errno 101] Network is unreachable")
    assert not listener.accepted.is_set()
    assert VICTIM_SECRET not in str(found)


def test_a_deployment_that_allows_outbound_network_reaches_other_hosts(supervisord, celery_worker, iris_model,
                                                                       alice):
    listener = Listener()

    url = serve(iris_model, hostile_code(f"""
        attempt("host_service", lambda: connect(("127.0.0.1", {listener.port})))
    """, in_build=False), alice, outbound_network=True)

    assert attack_report(url)["host_service"] == "OK 'connected'"
    assert listener.accepted.wait(5)
