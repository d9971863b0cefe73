"""docker/fetch_build.py, the init container of every replica, against a stand-in artifact endpoint.

The console's own endpoint is tested in test_artifact_endpoint.py; here a small HTTP server plays
it, so failures can be made on demand: it checks the bearer token with the console's real
`build_of_token` and answers with a real bundle archive. The script runs as in the pod: its
own process, configured by environment variables only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core import signing

from deployments.backends.kubernetes.artifacts import artifact_token, artifact_url, build_of_token
from serving.bundle import read_bundle
from tests.fixtures.builds import python_bundle_files, tar_gz
from tests.kubernetes.conftest import REPO

BUILD_ID = "5b0a3c1e-8d1f-4c6e-9a55-2f7e1d0c9b31"
SCRIPT = REPO / "docker" / "fetch_build.py"


@dataclass
class ArtifactEndpoint:
    """Stand-in for the console's artifact endpoint: one build, token checked, failures on demand."""
    archive: bytes
    failures_first: int = 0
    hits: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, authorization: str) -> tuple[int, bytes]:
        self.hits.append(path)
        if len(self.hits) <= self.failures_first:
            return 503, b"restarting"
        try:
            build = build_of_token(authorization.removeprefix("Bearer "))
        except signing.BadSignature:
            return 401, b"bad token"
        if path != f"/api/v1/builds/{build}/artifact/":
            return 404, b"no such build"
        return 200, self.archive


@pytest.fixture
def endpoint() -> Iterator[ArtifactEndpoint]:
    stand_in = ArtifactEndpoint(tar_gz(python_bundle_files()))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = stand_in.answer(self.path, self.headers.get("Authorization", ""))
            self.send_response(status)
            self.send_header("Content-Type", "application/gzip" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()


def fetch(url: str, token: str, dest: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "BERTH_ARTIFACT_URL": url,
           "BERTH_ARTIFACT_TOKEN": token}
    return subprocess.run([sys.executable, str(SCRIPT), "--dest", str(dest), "--attempts", "3", "--wait-s", "0.1"],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_it_unpacks_the_build_the_token_was_made_for(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    dest = tmp_path / "berth" / "build"
    result = fetch(artifact_url(endpoint.url, BUILD_ID), artifact_token(BUILD_ID), dest)
    assert result.returncode == 0, result.stderr
    assert read_bundle(dest).framework == "python"  # what the model server will load


def test_a_token_for_another_build_is_refused_and_not_retried(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    result = fetch(artifact_url(endpoint.url, BUILD_ID), artifact_token("another-build"), tmp_path / "build")
    assert result.returncode == 1
    assert "404" in result.stderr
    assert len(endpoint.hits) == 1
    assert not (tmp_path / "build").exists()


def test_a_forged_token_is_refused_with_words_about_the_token(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    result = fetch(artifact_url(endpoint.url, BUILD_ID), "forged", tmp_path / "build")
    assert result.returncode == 1
    assert "401" in result.stderr
    assert "token in the variation's Secret is not accepted" in result.stderr


def test_a_restarting_console_is_waited_for(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    endpoint.failures_first = 2
    result = fetch(artifact_url(endpoint.url, BUILD_ID), artifact_token(BUILD_ID), tmp_path / "build")
    assert result.returncode == 0, result.stderr
    assert len(endpoint.hits) == 3
    assert (tmp_path / "build" / "berth.yaml").is_file()


def test_an_unreachable_console_fails_saying_which_setting_to_check(tmp_path: Path) -> None:
    result = fetch("http://127.0.0.1:9/api/v1/builds/x/artifact/", "token", tmp_path / "build")
    assert result.returncode == 1
    assert "after 3 attempts" in result.stderr
    assert "BERTH_CONSOLE_INTERNAL_URL" in result.stderr


def test_an_archive_reaching_outside_the_bundle_is_refused(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    endpoint.archive = tar_gz({"berth.yaml": "framework: python\n", "../escaped.txt": "x"})
    result = fetch(artifact_url(endpoint.url, BUILD_ID), artifact_token(BUILD_ID), tmp_path / "pod" / "build")
    assert result.returncode == 1
    assert "cannot be unpacked" in result.stderr
    assert not (tmp_path / "pod" / "escaped.txt").exists()
    assert not (tmp_path / "pod" / "build").exists()


def test_a_restarted_init_container_replaces_what_it_left(endpoint: ArtifactEndpoint, tmp_path: Path) -> None:
    dest = tmp_path / "build"
    dest.mkdir()
    (dest / "half-written.bin").write_text("left by an earlier attempt")
    result = fetch(artifact_url(endpoint.url, BUILD_ID), artifact_token(BUILD_ID), dest)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["berth.yaml", "model.py"]
