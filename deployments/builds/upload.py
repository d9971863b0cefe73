"""Accepting an uploaded build: checked at the edge, stored whole or not at all."""

from __future__ import annotations

import hashlib
import math
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Sum

from deployments.builds.validation import is_archive
from deployments.models import Build, Model, Project
from deployments.models.build import clean_label, clean_tags
from deployments.tasks import validate_build
from serving.bundle import ARCHIVE_ERRORS, FRAMEWORKS, BundleError, check_archive

SINGLE_FILE_FRAMEWORKS = tuple(f for f in FRAMEWORKS if f != "python")


def safe_file_name(name: str) -> str:
    base = Path(name).name.strip().replace("\x00", "")
    if base in {"", ".", ".."}:
        raise ValidationError("The uploaded file has no usable name.")
    return base[:200]


def check_upload(upload: UploadedFile, framework: str) -> None:
    """Raise ValidationError naming what to fix; read nothing of the user's code."""
    limit_mb = settings.BERTH_MAX_UPLOAD_MB
    if upload.size is None or upload.size > limit_mb * 1024 * 1024:
        raise ValidationError(f"The upload is larger than the {limit_mb} MB limit (BERTH_MAX_UPLOAD_MB).")
    name = safe_file_name(upload.name or "")
    if not is_archive(name):
        if not framework:
            raise ValidationError(
                "A single model file needs a framework: choose one of " + ", ".join(SINGLE_FILE_FRAMEWORKS)
                + ", or upload a .zip / .tar.gz bundle with a berth.yaml."
            )
        if framework not in SINGLE_FILE_FRAMEWORKS:
            raise ValidationError(f"A single file cannot be a '{framework}' build; upload a bundle with a berth.yaml.")
        return
    with _as_local_file(upload) as path:
        try:  # a bomb is refused here, in the upload's answer, not later by validation
            check_archive(path, settings.BERTH_MAX_UNPACKED_MB * 1024 * 1024)
        except BundleError as exc:
            raise ValidationError(f"{exc.message} (BERTH_MAX_UNPACKED_MB)") from None


class _as_local_file:
    """The upload as a file on disk under the name the user gave it (removed on exit)."""

    def __init__(self, upload: UploadedFile) -> None:
        self.upload = upload
        self.copy_dir: Path | None = None

    def __enter__(self) -> Path:
        # A copy under the name the user chose, so errors about the archive name their file.
        self.copy_dir = Path(tempfile.mkdtemp(prefix="berth-upload-"))
        copy = self.copy_dir / safe_file_name(self.upload.name or "upload")
        existing = getattr(self.upload, "temporary_file_path", None)
        if existing:  # a large upload Django already spooled to disk: link it, don't copy it
            copy.symlink_to(existing())
            return copy
        with copy.open("wb") as out:
            for chunk in self.upload.chunks():
                out.write(chunk)
        self.upload.seek(0)
        return copy

    def __exit__(self, *exc: object) -> None:
        if self.copy_dir:
            shutil.rmtree(self.copy_dir, ignore_errors=True)


class DuplicateBuild(ValidationError):
    """The uploaded file is byte for byte one this model already has; `existing` is that build."""

    def __init__(self, existing: Build) -> None:
        status = existing.get_status_display().lower()
        super().__init__(f"This file is identical (same SHA-256) to build {existing.name}, uploaded "
                         f"{existing.uploaded_at_text} ({status}).", code="duplicate")
        self.existing = existing


@dataclass(frozen=True)
class UploadOptions:
    """How people will tell the build apart, and whether a file the model already has is wanted on purpose."""

    label: str = ""
    tags: list[str] = field(default_factory=list)
    allow_duplicate: bool = False


def store_build(model: Model, upload: UploadedFile, framework: str, example_input: list | None, user: object,
                options: UploadOptions | None = None) -> Build:
    """Create the Build row and its stored file together, or neither; validation starts after commit.

    With the project locked, a build past the project's storage quota is refused (two uploads at
    once cannot both squeeze into the last of it), and so is a file this model already has
    (DuplicateBuild) unless `options.allow_duplicate`, which then needs a label to tell the two apart.
    """
    options = options or UploadOptions()
    build = Build(
        model=model, source_name=safe_file_name(upload.name or "model"), framework=framework or "",
        example_input=example_input, created_by=user if isinstance(user, User) else None,
        label=clean_label(options.label), tags=clean_tags(options.tags),
    )
    try:
        with transaction.atomic():
            build.size_bytes, build.sha256 = _write_source(upload, build.source_path)
            build.unpacked_bytes = unpacked_size(build.source_path)
            Project.objects.select_for_update().filter(pk=model.project.pk).first()
            _refuse_duplicate(build, options.allow_duplicate)
            _check_quota(model.project, build.unpacked_bytes)
            build.save()
            transaction.on_commit(lambda: validate_build.delay(str(build.build_id)))
    except BaseException:
        shutil.rmtree(build.storage_dir, ignore_errors=True)
        raise
    return build


def _refuse_duplicate(build: Build, allowed: bool) -> None:
    """A file the model already has: refused, or taken on purpose under a label of its own."""
    existing = Build.objects.filter(model=build.model, sha256=build.sha256).order_by("-created_at").first()
    if existing is None:
        return
    if not allowed:
        raise DuplicateBuild(existing)
    if not build.label or build.label == existing.label:
        raise ValidationError({"label": f"This file is the same as build {existing.name}: give this upload a "
                                        "label of its own so the two can be told apart (e.g. v2-rebuild)."},
                              code="label")


def _write_source(upload: UploadedFile, dest: Path) -> tuple[int, str]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    upload.seek(0)
    with dest.open("wb") as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def unpacked_size(source: Path) -> int:
    """What a stored upload unpacks to: its files' sizes from the archive's headers, or its own size."""
    if not is_archive(source.name):
        return source.stat().st_size
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zipped:
                return sum(info.file_size for info in zipped.infolist() if not info.is_dir())
        with tarfile.open(source, "r:*") as tarred:
            return sum(member.size for member in tarred if member.isreg())
    except ARCHIVE_ERRORS:  # not an archive after all: validation fails the build and says why
        return source.stat().st_size


def storage_used(project: Project) -> int:
    """Bytes the project's builds unpack to, all of them, whatever their status."""
    return Build.objects.filter(model__project=project).aggregate(total=Sum("unpacked_bytes"))["total"] or 0


def storage_summary(project: Project) -> str:
    """The project's build storage as its pages show it, e.g. "0.7 MB of 5120 MB"."""
    return f"{_mb(storage_used(project))} MB of {settings.BERTH_PROJECT_STORAGE_MB} MB"


def _check_quota(project: Project, needed: int) -> None:
    used, limit = storage_used(project), settings.BERTH_PROJECT_STORAGE_MB * 2**20
    if used + needed > limit:
        raise ValidationError(
            f"This build unpacks to {_mb(needed)} MB, and this project uses {_mb(used)} MB of its "
            f"{settings.BERTH_PROJECT_STORAGE_MB} MB build storage; delete models you no longer need (their builds "
            "go with them) or ask an admin to raise BERTH_PROJECT_STORAGE_MB.", code="quota")


def _mb(size: int) -> str:
    """Megabytes to one decimal, rounded up: a small build is 0.1 MB, never 0."""
    return f"{math.ceil(size * 10 / 2**20) / 10:g}"
