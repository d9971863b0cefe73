"""A model: what builds belong to and what a deployment serves."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

MODEL_ID_RULE = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$",
    "Use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (e.g. churn_model).",
)


class Model(models.Model):
    project = models.ForeignKey("deployments.Project", on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(
        "model ID", max_length=63, unique=True, validators=[MODEL_ID_RULE],
        error_messages={"unique": "A model with this model ID already exists; choose another."},
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_id"]

    def __str__(self) -> str:
        return self.model_id
