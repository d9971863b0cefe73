"""The Overview's snippets run as pasted (after creating a token), against this console's real address."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import resolve

from deployments.models import Deployment, Model
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.deployments import a_ready_build, serving_deployment, undeployed_deployment, variation
from tests.fixtures.people import logged_in, token_for

BIN = str(Path(sys.executable).parent)  # where the installed `berth` and this Python are


def snippet(page: str, name: str) -> str:
    match = re.search(rf'<pre id="{name}-snippet"[^>]*>(.*?)</pre>', page, re.S)
    assert match, f"no {name} snippet on the page"
    return html.unescape(match.group(1))


def overview(user: Any, deployment: Deployment, host: str) -> str:
    return logged_in(user).get(f"/deployments/{deployment.pk}/", HTTP_HOST=host).content.decode()


def run_as_pasted(command: list[str], token: str) -> subprocess.CompletedProcess[str]:
    """In a fresh shell-like environment that holds only what the one named step gives: BERTH_TOKEN."""
    env = {"PATH": BIN + os.pathsep + os.environ["PATH"], "HOME": os.environ.get("HOME", tempfile.gettempdir()), "BERTH_TOKEN": token}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


class StandInGateway(BaseHTTPRequestHandler):
    """Answers predictions as a gateway does, and keeps what it was sent."""

    received: list[Any] = []  # noqa: RUF012 - one list per test run, read by the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "body": json.loads(body)})
        answer = json.dumps({"predictions": [{"species": "setosa"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    StandInGateway.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


@pytest.mark.django_db
def test_the_snippets_name_this_console_as_the_browser_reached_it(alice, deployment):
    page = overview(alice, deployment, "localhost:8123")

    assert "export BERTH_URL=http://localhost:8123\n" in snippet(page, "cli")
    assert 'os.environ["BERTH_URL"] = "http://localhost:8123"' in snippet(page, "python")
    assert "127.0.0.1:8000" not in page
    link = re.search(r'<a href="([^"]+)" id="tokens-link">', page)
    assert link
    assert link.group(1) == "http://localhost:8123/settings/tokens/"
    assert resolve(urlsplit(link.group(1)).path).url_name == "tokens"


@pytest.mark.django_db
def test_every_snippet_is_marked_for_a_copy_button(alice, deployment):
    page = overview(alice, deployment, "localhost:8123")

    for name, label in (("curl", "Copy curl"), ("cli", "Copy CLI"), ("python", "Copy Python")):
        assert f'<pre id="{name}-snippet" data-copy-label="{label}">' in page


@pytest.mark.django_db
def test_an_undeployed_deployment_offers_no_snippets_that_would_fail(alice, iris_model):
    stopped = undeployed_deployment(iris_model, variation(a_ready_build(iris_model)))

    page = overview(alice, stopped, "localhost:8123")

    assert 'id="from-code"' not in page
    assert 'id="curl-snippet"' not in page


@pytest.mark.django_db
def test_the_cli_snippet_is_a_command_the_cli_has(alice, deployment):
    from berth.cli import build_parser
    from berth.cli.deploy import deployment_status

    command = snippet(overview(alice, deployment, "localhost:8123"), "cli").splitlines()[-1].split()
    args = build_parser().parse_args(command[1:])

    assert command[0] == "berth"
    assert args.handler is deployment_status
    assert (args.model_id, args.environment) == ("iris", "production")


@pytest.mark.django_db(transaction=True)
def test_the_cli_snippet_runs_as_pasted_against_this_console(live_console, alice, deployment):
    page = overview(alice, deployment, urlsplit(live_console).netloc)

    done = run_as_pasted(["bash", "-euc", snippet(page, "cli")], token_for(alice))

    assert done.returncode == 0, done.stderr
    assert "iris" in done.stdout
    assert "http://127.0.0.1:18080/v1/models/iris/predict" in done.stdout


@pytest.mark.django_db(transaction=True)
def test_the_python_snippet_predicts_as_pasted_against_this_console(live_console, gateway, alice, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(gateway_url=gateway)  # answers at a stand-in gateway
    page = overview(alice, deployment, urlsplit(live_console).netloc)

    done = run_as_pasted([sys.executable, "-c", snippet(page, "python")], token_for(alice))

    assert done.returncode == 0, done.stderr
    assert "setosa" in done.stdout
    assert StandInGateway.received == [{"path": "/v1/models/iris/predict", "body": [IRIS_ROW]}]
