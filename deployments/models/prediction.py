"""What the Prediction tab keeps: each user's recent test calls, and saved cases with their expected answer.

Saved cases are data, not a page-only list: anything that wants to know whether a deployment still
answers as expected (the tab's "Run all saved cases", later a promotion gate) replays them through
deployments.prediction.cases.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PredictionCall(models.Model):
    """One prediction sent from the tab: kept per user and deployment, the newest 20 (prediction/history.py)."""

    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="prediction_calls")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    variation = models.CharField(max_length=36, blank=True, help_text="The variation asked for; blank: any.")
    served_by = models.CharField(max_length=36, blank=True, help_text="X-Berth-Variation of the answer.")
    request_body = models.TextField(help_text="The JSON sent, cut to 64 KiB.")
    request_truncated = models.BooleanField(default=False)
    response_body = models.TextField(blank=True, help_text="The answer's body, cut to 64 KiB.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True,
                                                   help_text="HTTP status; empty when the gateway did not answer.")
    error = models.TextField(blank=True, help_text="Why there is no answer (gateway down, timeout).")
    latency_ms = models.FloatField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["deployment", "user", "-created_at"], name="predictioncall_recent")]

    def __str__(self) -> str:
        return f"test call {self.pk} to deployment {self.deployment_id}: {self.status_code or self.error}"


class SavedCase(models.Model):
    """A request and the answer it must get: exactly the same JSON, or numbers within `tolerance`."""

    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="saved_cases")
    name = models.CharField(max_length=100)
    request = models.JSONField(help_text="The JSON body sent to the gateway.")
    expected = models.JSONField(help_text="The JSON answer expected.")
    tolerance = models.FloatField(default=0.0, help_text="Absolute difference allowed between numbers; 0: exact.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="savedcase_unique_name")]

    def __str__(self) -> str:
        return f"saved case {self.name!r} of deployment {self.deployment_id}"
