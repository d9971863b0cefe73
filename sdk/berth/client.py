"""A small client for Berth's REST API (`/api/v1/`), used by the `berth` CLI and by scripts.

    from berth.client import BerthClient
    client = BerthClient()                # BERTH_URL and BERTH_TOKEN from the environment
    build = client.upload_build("iris", "./iris_model", wait=True)

Every failure is a `BerthError` carrying the server's own message. No Django imports here.
(The module is not called `berth.api`: `from berth import api` is the Qwak-style `@api()`
decorator that model code imports, and a submodule of that name would replace it.)
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
SKIPPED_IN_BUNDLES = {"__pycache__", ".git", ".venv", ".ipynb_checkpoints", ".DS_Store"}
FINISHED = ("ready", "failed")


class BerthError(Exception):
    """Something the person running the command can act on; `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _no_token(url: str, url_given: bool) -> str:
    message = (f"BERTH_TOKEN is not set. Create a token on the console's API tokens page ({url}/settings/tokens/, "
               "'API tokens' in the top bar), then run: export BERTH_TOKEN=<the token>")
    if not url_given:
        message += (f". BERTH_URL is not set either, so this uses {DEFAULT_URL}; if the console is elsewhere, "
                    "export BERTH_URL=<its address> (a deployment's Overview shows both lines)")
    return message


class BerthClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 60.0) -> None:
        given_url = url or os.environ.get("BERTH_URL")
        self.url = (given_url or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("BERTH_TOKEN", "")
        if not token.strip():
            raise BerthError(_no_token(self.url, url_given=bool(given_url)))
        self._http = httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(timeout_s, connect=10.0),
            headers={"Authorization": f"Bearer {token.strip()}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BerthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- projects ---------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        return list(self._pages("/api/v1/projects/"))

    def create_project(self, slug: str, name: str, description: str = "") -> dict[str, Any]:
        return self._request("POST", "/api/v1/projects/", json={"slug": slug, "name": name, "description": description})

    # --- models -----------------------------------------------------------------------------

    def models(self, project: str | None = None) -> list[dict[str, Any]]:
        return list(self._pages("/api/v1/models/", {"project": project} if project else None))

    def model(self, model_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/models/{model_id}/")

    def create_model(self, model_id: str, name: str, project: str, description: str = "") -> dict[str, Any]:
        body = {"model_id": model_id, "name": name, "project": project, "description": description}
        return self._request("POST", "/api/v1/models/", json=body)

    # --- builds -----------------------------------------------------------------------------

    def builds(self, model_id: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        return list(self._pages(f"/api/v1/models/{model_id}/builds/", params))

    def build(self, build_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/builds/{build_id}/")

    def upload_build(self, model_id: str, path: str | Path, framework: str = "", example_input: str = "",
                     wait: bool = False, timeout_s: float = 900, label: str = "", tags: tuple[str, ...] = (),
                     allow_duplicate: bool = False) -> dict[str, Any]:
        """Upload a directory (packed as .tar.gz on the fly, the same bytes for the same files), an
        archive, or a single model file. The same file again is refused (409, naming the build it
        matches) unless `allow_duplicate`, with a `label` of its own."""
        name, content = bundle_for_upload(Path(path), framework)
        data: dict[str, Any] = {"framework": framework, "example_input": example_input, "label": label,
                                "tags": list(tags)}
        if allow_duplicate:
            data["allow_duplicate"] = "true"
        build = self._request("POST", f"/api/v1/models/{model_id}/builds/", data=data,
                              files={"file": (name, content, "application/octet-stream")},
                              timeout=httpx.Timeout(None, connect=10.0))
        return self.wait_for_build(build["build_id"], timeout_s) if wait else build

    def wait_for_build(self, build_id: str, timeout_s: float = 900, poll_s: float = 1.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            build = self.build(build_id)
            if build["status"] in FINISHED:
                return build
            if time.monotonic() > deadline:
                raise BerthError(f"Build {build_id} is still building after {timeout_s:.0f} s; "
                                 f"check it later with: berth builds show {build_id}")
            time.sleep(poll_s)

    # --- metrics ----------------------------------------------------------------------------

    def deployment_metrics(self, deployment_id: int, range: str = "1h", variation: str = "") -> dict[str, Any]:
        """A deployment's stored health series (`range`: 15m, 1h, 6h, 24h or 7d; `variation`: one variation's,
        else the whole deployment's): `times`, and in `metrics` each metric's values at them (None: no data)."""
        params = {"range": range, "variation": variation} if variation else {"range": range}
        return self._request("GET", f"/api/v1/deployments/{deployment_id}/metrics/", params=params)

    # --- logs -------------------------------------------------------------------------------

    def deployment_logs(self, deployment_id: int, *, before: str = "", after: str = "", limit: int = 200,
                        **filters: str) -> dict[str, Any]:
        """A page of a deployment's retained log lines, oldest first: `lines`, and the cursors `older`
        (pass as `before` for the page before; None: nothing older) and `newer` (pass as `after` for what
        was written since). `filters`: since, until, variation, replica, level, q, request_id."""
        params = {name: value for name, value in {**filters, "before": before, "after": after}.items() if value}
        return self._request("GET", f"/api/v1/deployments/{deployment_id}/logs/", params={**params, "limit": limit})

    # --- plumbing ---------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        page = self._request("GET", path, params=params)
        while True:
            if not isinstance(page, dict):  # an unpaginated list
                yield from page
                return
            yield from page["results"]
            if not page.get("next"):
                return
            page = self._request("GET", page["next"])

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise BerthError(f"Berth at {self.url} did not answer in time; try again.") from None
        except httpx.HTTPError as exc:
            raise BerthError(f"Cannot reach Berth at {self.url} ({exc}); is BERTH_URL right?") from None
        if response.is_success:
            return response.json() if response.content else None
        raise BerthError(error_message(response), response.status_code)


def error_message(response: httpx.Response, console: bool = True) -> str:
    """The server's message in one line: `detail`, or each field's errors as `field: message`.

    A console 404 also says where it looked (your projects); another server's (`console=False`,
    e.g. a deployment's gateway) is told as that server said it."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body:  # {"detail": "…"}, or refused fields (and maybe a `detail` besides)
        fields = "; ".join(f"{field}: {_flatten(errors)}" for field, errors in body.items() if field != "detail")
        detail = body["detail"] if isinstance(body.get("detail"), str) else ""
        message = "; ".join(part for part in (detail, fields) if part)
    elif isinstance(body, list) and body:
        message = _flatten(body)
    else:
        message = f"the server answered {response.status_code} {response.reason_phrase}"
    if response.status_code == 404 and console:
        message = f"{message.rstrip('.')} (not found in your projects)."
    return " ".join(message.split())


def _flatten(errors: object) -> str:
    if isinstance(errors, list):
        return " ".join(_flatten(e) for e in errors)
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in errors.items())
    return str(errors)


def bundle_for_upload(path: Path, framework: str = "") -> tuple[str, BinaryIO]:
    """What to send for `path`: a directory packed as .tar.gz, or the file as it is."""
    if path.is_dir():
        return f"{path.resolve().name}.tar.gz", pack_directory(path)
    if not path.is_file():
        raise BerthError(f"{path} does not exist; give a bundle directory, a .zip/.tar.gz, or a model file.")
    if not path.name.lower().endswith(ARCHIVE_SUFFIXES) and not framework:
        raise BerthError(f"{path.name} is a single model file: say which framework it is with --framework "
                         "(sklearn, xgboost, lightgbm or onnx), or upload a bundle directory with a berth.yaml.")
    return path.name, path.open("rb")


def pack_directory(directory: Path) -> BinaryIO:
    """The directory's contents (not the directory itself) as an in-memory .tar.gz whose bytes
    depend only on the files' names, contents and executable bits (no times, owners or order of
    listing), so the console recognises the same folder uploaded again."""
    if not (directory / "berth.yaml").is_file():
        raise BerthError(f"{directory} has no berth.yaml; see docs/builds.md for the bundle layout.")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        for item in sorted(directory.rglob("*")):
            relative = item.relative_to(directory)
            if SKIPPED_IN_BUNDLES & set(relative.parts) or item.suffix == ".pyc":
                continue
            if item.is_file() and not item.is_symlink():
                with item.open("rb") as content:
                    tar.addfile(_entry(item, relative.as_posix()), content)
    buffer.seek(0)
    return buffer


def _entry(item: Path, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = item.stat().st_size
    info.mode = 0o755 if item.stat().st_mode & 0o111 else 0o644
    return info  # mtime 0, uid and gid 0, no owner names: TarInfo's defaults
