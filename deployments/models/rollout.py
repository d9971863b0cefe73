"""One revision of a deployment (a frozen spec) and the timestamped events of getting there."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RolloutAction(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    ROLLBACK = "rollback", "Rollback"
    SCALE = "scale", "Scale"
    UNDEPLOY = "undeploy", "Undeploy"


class RolloutStrategy(models.TextChoices):
    ROLLING = "rolling", "Rolling"


class RolloutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"   # it served, then a rollback replaced it

    @classmethod
    def active(cls) -> list[str]:
        return [cls.PENDING, cls.IN_PROGRESS]


class Rollout(models.Model):
    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="rollouts")
    revision = models.PositiveIntegerField()
    action = models.CharField(max_length=16, choices=RolloutAction.choices, default=RolloutAction.DEPLOY)
    spec = models.JSONField(help_text="Frozen snapshot of every variation (see deployments/rollouts/spec.py).")
    strategy = models.CharField(max_length=16, choices=RolloutStrategy.choices, default=RolloutStrategy.ROLLING)
    status = models.CharField(max_length=16, choices=RolloutStatus.choices, default=RolloutStatus.PENDING)
    reason = models.TextField(blank=True, help_text="Why it failed, for people.")
    source_revision = models.PositiveIntegerField(null=True, blank=True,
                                                  help_text="For a rollback: the revision whose spec it restores.")
    attempts = models.PositiveSmallIntegerField(default=0)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "-revision"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "revision"], name="unique_rollout_revision"),
            models.UniqueConstraint(fields=["deployment"], condition=Q(status__in=["pending", "in_progress"]),
                                    name="one_active_rollout_per_deployment"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment} revision {self.revision} ({self.action})"

    @property
    def is_active(self) -> bool:
        return self.status in RolloutStatus.active()

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def start(self) -> None:
        self.status, self.attempts, self.started_at = RolloutStatus.IN_PROGRESS, self.attempts + 1, timezone.now()
        self.save(update_fields=["status", "attempts", "started_at"])

    def finish(self, status: str, reason: str = "") -> None:
        self.status, self.reason, self.finished_at = status, reason, timezone.now()
        self.save(update_fields=["status", "reason", "finished_at"])

    def mark_rolled_back(self, reason: str) -> None:
        """It served, and a rollback replaced it; when it finished (and so how long it took) stays as it was."""
        self.status, self.reason = RolloutStatus.ROLLED_BACK, reason
        self.save(update_fields=["status", "reason"])


class EventKind(models.TextChoices):
    CREATED = "created", "Rollout created"
    STARTED = "started", "Rollout started"
    REPLICA_STARTED = "replica_started", "Replica started"
    REPLICA_READY = "replica_ready", "Replica ready"
    REPLICA_NOT_READY = "replica_not_ready", "Replica not ready"
    REPLICA_CRASHED = "replica_crashed", "Replica crashed"
    REPLICA_RESTARTED = "replica_restarted", "Replica restarted"
    REPLICA_STOPPED = "replica_stopped", "Replica stopped"
    TRAFFIC_SWITCHED = "traffic_switched", "Traffic switched"
    SCALED = "scaled", "Scaled"
    SUCCEEDED = "succeeded", "Rollout succeeded"
    FAILED = "failed", "Rollout failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    UNDEPLOYED = "undeployed", "Undeployed"
    STATUS_CHANGED = "status_changed", "Status changed"


class EventLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class RolloutEvent(models.Model):
    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="events")
    rollout = models.ForeignKey(Rollout, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    level = models.CharField(max_length=8, choices=EventLevel.choices, default=EventLevel.INFO)
    message = models.TextField()
    variation = models.CharField(max_length=36, blank=True)
    replica = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%H:%M:%S} {self.kind}: {self.message[:60]}"
