"""The real-time service of one model in one environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

if TYPE_CHECKING:
    from deployments.models.rollout import Rollout

ENVIRONMENT_RULE = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$",
    "Use 1-32 lowercase letters, digits or '-', starting and ending with a letter or digit.",
)


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"          # created, first rollout not started yet
    DEPLOYING = "deploying", "Deploying"    # a rollout is in progress
    RUNNING = "running", "Running"          # every replica of the serving revision is ready
    DEGRADED = "degraded", "Degraded"       # serving, but some replica is not ready (crashing, restarting)
    FAILED = "failed", "Failed"             # nothing serves: the first rollout failed
    UNDEPLOYING = "undeploying", "Undeploying"
    STOPPED = "stopped", "Stopped"          # undeployed: no process, no port

    @classmethod
    def transient(cls) -> list[str]:
        return [cls.PENDING, cls.DEPLOYING, cls.UNDEPLOYING]


class DeploymentQuerySet(models.QuerySet["Deployment"]):
    def for_user(self, user: object) -> DeploymentQuerySet:
        return self.filter(model__project__memberships__user=user)

    def serving(self) -> DeploymentQuerySet:
        return self.filter(current_rollout__isnull=False).exclude(status=DeploymentStatus.STOPPED)


class Deployment(models.Model):
    model = models.ForeignKey("deployments.Model", on_delete=models.CASCADE, related_name="deployments")
    environment = models.CharField(max_length=32, default="production", validators=[ENVIRONMENT_RULE])
    # Written only by deployments.state.status.settle (see docs/development.md, "State flow").
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING)
    status_reason = models.TextField(blank=True, help_text="Why the status is what it is, for people.")
    current_rollout = models.ForeignKey(
        "deployments.Rollout", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The succeeded revision that serves traffic now.",
    )
    gateway_port = models.PositiveIntegerField(null=True, blank=True, help_text="Kept for the deployment's life.")
    gateway_url = models.CharField(max_length=255, blank=True, help_text="Base URL of the deployment's gateway.")
    observed = models.JSONField(default=dict, blank=True,
                                help_text="What the runtime last said (deployments/state/observation.py); "
                                          "written only by deployments.state.observer.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["model__model_id", "environment"]
        constraints = [
            models.UniqueConstraint(fields=["model", "environment"], name="one_deployment_per_model_environment"),
        ]

    def __str__(self) -> str:
        return f"{self.model.model_id} ({self.environment})"

    @property
    def active_rollout(self) -> Rollout | None:
        from deployments.models.rollout import Rollout, RolloutStatus

        return Rollout.objects.filter(deployment=self, status__in=RolloutStatus.active()).first()

    @property
    def is_serving(self) -> bool:
        return self.current_rollout_id is not None and self.status != DeploymentStatus.STOPPED

    @property
    def predict_url(self) -> str:
        """Where clients POST predictions (the gateway picks a variation by weight)."""
        if not self.gateway_url:
            return ""
        return f"{self.gateway_url}/v1/models/{self.model.model_id}/predict"

    @property
    def requires_key(self) -> bool:
        """Predict calls need an endpoint key, as its latest revision says (docs/endpoint-keys.md)."""
        rollout = self.current_rollout
        return bool(rollout is not None and rollout.spec.get("require_key"))

    def variation_predict_url(self, variation: str) -> str:
        if not self.gateway_url:
            return ""
        return f"{self.gateway_url}/v1/models/{self.model.model_id}/{variation}/predict"

