"""Fetch a build from the console and unpack it: the init container of every Kubernetes replica.

    BERTH_ARTIFACT_URL=https://…/api/v1/builds/<id>/artifact/ BERTH_ARTIFACT_TOKEN=… \\
        python fetch_build.py --dest /var/lib/berth/build

The token (a Secret of the variation) opens that one build. The archive is unpacked with the
model server's own checks (serving.bundle.extract_archive: no absolute paths, no links leaving
the bundle, a size limit), all or nothing. Connection failures and 5xx answers are retried for a
while, since the console may be restarting; a 401/403/404 is not, as retrying cannot fix it. Every
failure ends with one line saying what to fix, which `kubectl describe pod` and the console show.
Standard library and serving/ only: it runs in the model-server image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from serving.bundle import extract_archive
from serving.errors import BundleError

CHUNK = 1024 * 1024


class FetchError(RuntimeError):
    """The build could not be fetched; the message says why, for people."""


def download(url: str, token: str, into: Path, attempts: int, wait_s: float) -> Path:
    """The archive at `url`, saved under `into`; retried on connection failures and 5xx."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - the console's URL
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                path = into / "build.archive"  # zip or tar.gz: extract_archive tells them apart by content
                with path.open("wb") as out:
                    shutil.copyfileobj(answer, out, CHUNK)
                return path
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise FetchError(f"{url} answered {exc.code} {exc.reason}: "
                                 + ("the token in the variation's Secret is not accepted by this console."
                                    if exc.code in (401, 403) else "the console does not have this build.")) from None
            last = f"{exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        print(f"fetch-build: attempt {attempt} of {attempts} failed ({last}); retrying", file=sys.stderr, flush=True)
        time.sleep(wait_s)
    raise FetchError(f"{url} could not be fetched after {attempts} attempts ({last}); check "
                     "BERTH_CONSOLE_INTERNAL_URL and that the console's web pods are running.")


def fetch(url: str, token: str, dest: Path, attempts: int = 30, wait_s: float = 2.0,
          max_unpacked_mb: int | None = None) -> Path:
    """Download and unpack into `dest`, replacing what an earlier run of this container left there."""
    if not url or not token:
        raise FetchError("BERTH_ARTIFACT_URL and BERTH_ARTIFACT_TOKEN must both be set.")
    if dest.exists():
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory(prefix="fetch-build-") as scratch:
        archive = download(url, token, Path(scratch), attempts, wait_s)
        try:
            return extract_archive(archive, dest, max_unpacked_mb * 2**20 if max_unpacked_mb else None)
        except (BundleError, ValueError) as exc:
            raise FetchError(f"the build from {url} cannot be unpacked: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="directory to unpack the build into")
    parser.add_argument("--attempts", type=int, default=30)
    parser.add_argument("--wait-s", type=float, default=2.0)
    parser.add_argument("--max-unpacked-mb", type=int, default=int(os.environ.get("BERTH_MAX_UNPACKED_MB", "4096")))
    args = parser.parse_args(argv)
    try:
        where = fetch(os.environ.get("BERTH_ARTIFACT_URL", ""), os.environ.get("BERTH_ARTIFACT_TOKEN", ""),
                      args.dest, args.attempts, args.wait_s, args.max_unpacked_mb)
    except FetchError as exc:
        print(f"fetch-build: {exc}", file=sys.stderr)
        return 1
    print(f"fetch-build: build unpacked into {where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
