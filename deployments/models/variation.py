"""A named slot of a deployment running one build: the revision that serves now, row by row.

Variation rows mirror the spec of the deployment's current (succeeded) rollout; the rollout
engine rewrites them when a rollout succeeds. What is being rolled out lives in Rollout.spec.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

VARIATION_NAME_RULE = RegexValidator(
    r"^[a-z0-9]([a-z0-9.-]{0,34}[a-z0-9])?$",
    "Use 1-36 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit.",
)
SECRET_MASK = "••••••"  # noqa: S105 - what is shown instead of a secret, not a secret

# field: (minimum, maximum, default) — the one place the bounds live (forms, API and spec use it).
BOUNDS: dict[str, tuple[int, int, int]] = {
    "replicas": (1, 100, 1),
    "server_workers": (1, 32, 2),
    "request_timeout_ms": (100, 600_000, 1000),
    "deploy_timeout_min": (3, 120, 20),
    "max_batch_size": (1, 1024, 64),  # adaptive: waits only while requests keep arriving (docs/benchmarks.md)
    "traffic_percent": (0, 100, 100),
}


def _bounded(field: str) -> list:
    low, high, _ = BOUNDS[field]
    return [MinValueValidator(low), MaxValueValidator(high)]


class Variation(models.Model):
    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="variations")
    name = models.CharField(max_length=36, validators=[VARIATION_NAME_RULE], default="default")
    build = models.ForeignKey("deployments.Build", on_delete=models.PROTECT, related_name="variations")
    instance_type = models.ForeignKey("deployments.InstanceType", on_delete=models.PROTECT, related_name="+")
    replicas = models.PositiveSmallIntegerField(default=1, validators=_bounded("replicas"))
    server_workers = models.PositiveSmallIntegerField(default=2, validators=_bounded("server_workers"))
    request_timeout_ms = models.PositiveIntegerField(default=1000, validators=_bounded("request_timeout_ms"))
    deploy_timeout_min = models.PositiveSmallIntegerField(default=20, validators=_bounded("deploy_timeout_min"))
    max_batch_size = models.PositiveSmallIntegerField(default=BOUNDS["max_batch_size"][2], validators=_bounded("max_batch_size"))
    env = models.JSONField(default=list, blank=True,
                           help_text='[{"name", "value", "secret"}]; secret values are Fernet tokens.')
    daemon_mode = models.BooleanField(default=False)
    outbound_network = models.BooleanField(default=False)
    iam_role_arn = models.CharField("IAM role ARN", max_length=2048, blank=True)
    service_account_key_secret_name = models.CharField(max_length=253, blank=True)
    traffic_percent = models.PositiveSmallIntegerField(default=100, validators=_bounded("traffic_percent"))
    shadow = models.BooleanField(default=False, help_text="Gets a copy of traffic; its answers are never returned.")

    class Meta:
        ordering = ["deployment", "shadow", "-traffic_percent", "name"]
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="unique_variation_name")]

    def __str__(self) -> str:
        return f"{self.deployment} / {self.name}"

    def env_for_display(self) -> list[dict[str, Any]]:
        """Env vars as a page may show them: secret values are masked, never decrypted."""
        return [{"name": item["name"], "secret": bool(item.get("secret")),
                 "value": SECRET_MASK if item.get("secret") else item.get("value", "")} for item in self.env]
