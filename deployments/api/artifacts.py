"""GET /api/v1/builds/<build_id>/artifact/: a ready build's bundle as .tar.gz, for a Kubernetes replica's init
container (docker/fetch_build.py), which has no user and no API token.

It sends `Authorization: Bearer <token>`, the build ID signed with the console's secret key
(deployments/backends/kubernetes/artifacts.py): a token opens the one build it was made for and
nothing else, so a model that reads its own pod's Secret learns nothing it did not have. No
session or API token is asked for, and none is accepted instead. Pods fetch over the cluster's
plain HTTP, so the path is exempt from the HTTPS redirect (console/settings.py).

The archive is the validated bundle directory, packed as it is read (nothing is written to disk).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from django.core import signing
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from deployments.backends.kubernetes.artifacts import build_of_token
from deployments.models import Build, BuildStatus

CHUNK = 256 * 1024


@require_GET
def build_artifact(request: HttpRequest, build_id: UUID) -> HttpResponseBase:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refused(401, "Send the build's artifact token: 'Authorization: Bearer <token>' (the variation's Secret).")
    try:
        allowed = build_of_token(token.strip())
    except signing.BadSignature:
        return _refused(403, "This token was not made by this console.")
    if allowed != str(build_id):
        return _refused(403, "This token opens another build.")
    build = Build.objects.filter(build_id=build_id, status=BuildStatus.READY).first()
    if build is None or not build.bundle_dir.is_dir():
        return _refused(404, f"Build {build_id} is not a ready build of this console (deleted, or not validated).")
    response = StreamingHttpResponse(_tar_gz(build.bundle_dir), content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{build_id}.tar.gz"'
    return response


def _refused(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


class _Pipe:
    """A write-only file for tarfile whose bytes are handed on in chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _tar_gz(root: Path) -> Iterator[bytes]:
    """`root`'s files (no links or special files: the bundle has none after validation) as a .tar.gz stream."""
    pipe = _Pipe()
    with tarfile.open(fileobj=pipe, mode="w|gz") as archive:  # type: ignore[call-overload]
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
            if pipe.chunks:
                yield pipe.take()
    yield pipe.take()  # the end of the archive, written as it closed
