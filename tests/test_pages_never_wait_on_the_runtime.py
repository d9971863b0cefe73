"""Pages, the API detail and the live socket read stored state: a runtime that hangs never delays them.

The runtime here is a real socket at BERTH_SUPERVISOR_URL that accepts connections and never
answers (what a wedged supervisord looks like). Anything that asked it would hang; the test
counts who connected.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from console.asgi import application
from deployments.models import Deployment, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.fixtures.stand_in_runtime import READY, observed
from tests.test_build_consumer import session_headers

pytestmark = pytest.mark.django_db(transaction=True)


class HangingRuntime:
    """A unix socket that accepts every connection and never says a word."""

    def __init__(self, path: Path) -> None:
        self.path, self.connections = path, 0
        self.held: list[socket.socket] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def hanging_runtime(settings, tmp_path: Path) -> Iterator[HangingRuntime]:
    runtime = HangingRuntime(tmp_path / "supervisord.sock")
    settings.BERTH_SUPERVISOR_URL = f"unix://{runtime.path}"
    yield runtime
    runtime.close()


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2))
    observed(deployment, [READY, READY])
    forty_s_ago = (timezone.now() - timedelta(seconds=40)).isoformat()
    Deployment.objects.filter(pk=deployment.pk).update(
        observed={**Deployment.objects.get(pk=deployment.pk).observed, "at": forty_s_ago})
    observed(deployment, None)  # then the runtime stopped answering the health check
    return deployment


def test_the_page_api_and_socket_answer_from_stored_state_and_say_its_age(hanging_runtime, deployment, alice):
    page = logged_in(alice).get(f"/deployments/{deployment.pk}/").content.decode()
    api = logged_in(alice).get(f"/api/v1/deployments/{deployment.pk}/").json()
    headers = session_headers(alice)

    async def socket_first_message() -> str:
        socket_ = WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/events/?tab=overview",
                                        headers=headers)
        assert (await socket_.connect())[0]
        html = await socket_.receive_from(timeout=10)
        await socket_.disconnect()
        return html

    live = async_to_sync(socket_first_message)()

    assert hanging_runtime.connections == 0
    for html in (page, live):  # 40 s, or a little more on a slow machine
        said = re.search(r"Last checked (\d+) s ago; the runtime does not answer", html)
        assert said is not None
        assert 40 <= int(said.group(1)) < 120
        assert "2/2 replicas ready" in html
    assert api["replicas"]["observation_age_s"] >= 40
    assert api["replicas"]["live"] is False
    assert api["replicas"]["runtime_error"].startswith("supervisord does not answer")
    assert api["status"] == "running"
    assert api["replicas"]["ready"] == 2
