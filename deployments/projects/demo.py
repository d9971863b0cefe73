"""The demo a fresh install starts with: a project, an iris model and two ready builds."""

from __future__ import annotations

import io
import secrets
import tarfile
import tempfile
from pathlib import Path

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from deployments.builds.upload import store_build
from deployments.models import Membership, Model, Project, Role
from deployments.tasks import validate_build

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def ensure_admin(username: str = "admin") -> str | None:
    """Create the first administrator; return its password only when it was just made."""
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username, f"{username}@localhost", password)
    return password


def pack_dir(bundle_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(bundle_dir.rglob("*")):
            relative = path.relative_to(bundle_dir)
            if path.is_file() and not {".berth", "__pycache__"} & set(relative.parts):
                tar.add(path, arcname=str(relative))
    return buffer.getvalue()


def seed_demo(owner: User) -> Model | None:
    """Idempotent: does nothing once the demo model exists."""
    if Model.objects.filter(model_id="iris").exists():
        return None
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            slug="demo", defaults={"name": "Demo", "description": "Iris classifiers to try Berth with."})
        Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Role.ADMIN})
        model = Model.objects.create(project=project, model_id="iris", name="Iris classifier",
                                     description="Predicts the iris species from sepal and petal sizes.")
    for name, archive in _demo_archives():
        build = store_build(model, SimpleUploadedFile(name, archive), "", None, owner)
        validate_build(str(build.build_id))  # validate now, so the demo is ready when the console opens
    return model


def _demo_archives() -> list[tuple[str, bytes]]:
    from examples.train import write_sklearn_bundle

    with tempfile.TemporaryDirectory() as tmp:
        sklearn_dir = write_sklearn_bundle(Path(tmp) / "iris_sklearn")
        return [("iris_python.tar.gz", pack_dir(EXAMPLES / "iris_python")),
                ("iris_sklearn.tar.gz", pack_dir(sklearn_dir))]
