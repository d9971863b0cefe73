"""An immutable, validated artifact bundle of a model."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class BuildStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


TIMING_LABELS = {
    "build_s": "build() — training",
    "load_s": "Loading the model",
    "first_predict_s": "First predict on the example input",
    "predict_s": "Predict on the example input, warm",
}


LABEL_MAX = 64
TAG_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}")
TAGS_MAX = 10


def clean_label(value: object) -> str:
    """A build's version label as stored: one line of at most LABEL_MAX characters, trimmed ("" for none)."""
    label = " ".join(str(value or "").split())
    if len(label) > LABEL_MAX:
        raise ValidationError(f"A label is at most {LABEL_MAX} characters (this one has {len(label)}).",
                              code="label")
    return label


def clean_tags(values: list[str]) -> list[str]:
    """Tags as stored: each 1-32 letters, digits or . _ : / - (starting with a letter or digit), no repeats."""
    tags = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    bad = [tag for tag in tags if TAG_RULE.fullmatch(tag) is None]
    if bad:
        raise ValidationError(f"Tag {bad[0]!r} is not allowed: use 1-32 letters, digits or . _ : / - "
                              "starting with a letter or digit, e.g. prod-candidate.", code="tags")
    if len(tags) > TAGS_MAX:
        raise ValidationError(f"A build has at most {TAGS_MAX} tags (this has {len(tags)}).", code="tags")
    return tags


RESULT_FIELDS = ["status", "log", "error", "finished_at", "framework", "input_schema", "output_schema",
                 "example_output", "timings", "requirements", "example_input"]


class BuildQuerySet(models.QuerySet["Build"]):
    def for_user(self, user: object) -> BuildQuerySet:
        return self.filter(model__project__memberships__user=user)



class Build(models.Model):
    build_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey("deployments.Model", on_delete=models.CASCADE, related_name="builds")
    status = models.CharField(max_length=16, choices=BuildStatus.choices, default=BuildStatus.BUILDING)
    framework = models.CharField(max_length=16, blank=True)
    source_name = models.CharField(max_length=255, help_text="Name of the uploaded file.")
    size_bytes = models.BigIntegerField(default=0)
    unpacked_bytes = models.BigIntegerField(
        default=0, help_text="What the upload unpacks to: what it counts against BERTH_PROJECT_STORAGE_MB.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the uploaded file: the same file twice is "
                              "refused unless asked for on purpose (deployments/builds/upload.py).")
    label = models.CharField(max_length=LABEL_MAX, blank=True,
                             help_text="Optional version label people give a build, e.g. v2 or retrained-may.")
    requirements = models.JSONField(default=list, blank=True)
    example_input = models.JSONField(null=True, blank=True)
    example_output = models.JSONField(null=True, blank=True)
    input_schema = models.JSONField(null=True, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BuildQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "sha256"], name="build_model_sha256")]

    def __str__(self) -> str:
        return f"{self.model.model_id} build {self.short_id}"

    @property
    def name(self) -> str:
        """How pages and messages name a build: its short id, with its label when it has one."""
        return f"{self.short_id} “{self.label}”" if self.label else self.short_id

    @property
    def author_log(self) -> str:
        """The log with tracebacks starting at the author's own code; `log` keeps it whole."""
        from deployments.builds.log import for_author

        return for_author(self.log)

    @property
    def uploaded_at_text(self) -> str:
        return timezone.localtime(self.created_at).strftime("%Y-%m-%d %H:%M %Z")

    @property
    def short_id(self) -> str:
        return str(self.build_id)[:8]

    @property
    def storage_dir(self) -> Path:
        return settings.DATA_DIR / "builds" / str(self.build_id)

    @property
    def source_path(self) -> Path:
        return self.storage_dir / "source" / self.source_name

    @property
    def bundle_dir(self) -> Path:
        return self.storage_dir / "bundle"

    @property
    def is_finished(self) -> bool:
        return self.status != BuildStatus.BUILDING

    def relabel(self, label: str, tags: list[str]) -> None:
        """Change the label and tags, all that changes about a build after upload (checked as at upload)."""
        self.label, self.tags = clean_label(label), clean_tags(tags)
        self.save(update_fields=["label", "tags"])

    def start_attempt(self) -> None:
        self.attempts += 1
        self.started_at = timezone.now()
        self.save(update_fields=["attempts", "started_at"])

    def record_result(self, ok: bool, log: str, error: str = "", report: dict | None = None) -> None:
        """Finish the build as ready (with what validation measured) or failed (with why)."""
        self.status = BuildStatus.READY if ok else BuildStatus.FAILED
        self.log, self.error, self.finished_at = log, error, timezone.now()
        if report:
            self.framework = report.get("framework") or self.framework
            self.input_schema = report.get("input_schema")
            self.output_schema = report.get("output_schema")
            self.example_output = report.get("example_output")
            self.timings = report.get("timings") or {}
            self.requirements = report.get("requirements") or self.requirements
            self.example_input = report.get("example_input") or self.example_input
        self.save(update_fields=RESULT_FIELDS)  # not the label and tags, which people may change meanwhile

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def timing_rows(self) -> list[tuple[str, float]]:
        """Validation steps that ran, in the order they run, labelled for people."""
        order = {key: i for i, key in enumerate(TIMING_LABELS)}
        steps = sorted((self.timings or {}).items(), key=lambda item: order.get(item[0], len(order)))
        return [(TIMING_LABELS.get(key, key), seconds) for key, seconds in steps if seconds is not None]

    @property
    def example_input_json(self) -> str:
        return records_json(self.example_input, self.input_schema)

    @property
    def example_output_json(self) -> str:
        return records_json(self.example_output, self.output_schema)


def records_json(value: Any, schema: list[dict[str, Any]] | None) -> str:
    """Records as JSON to paste into a request, fields in the schema's order, one record a line."""
    names = [field["name"] for field in schema or [] if isinstance(field, dict) and "name" in field]

    def ordered(record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        return {**{name: record[name] for name in names if name in record},
                **{key: item for key, item in record.items() if key not in names}}

    if isinstance(value, list):
        return "[\n" + ",\n".join("  " + json.dumps(ordered(record)) for record in value) + "\n]"
    return json.dumps(ordered(value), indent=2)
