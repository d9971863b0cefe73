"""A model: what builds belong to and what a deployment serves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction

if TYPE_CHECKING:
    from deployments.models.project import Project

MODEL_ID_RULE = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$",
    "Use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (e.g. churn_model).",
)



def model_id_not_available(model_id: str) -> ValidationError:
    """Model IDs are global: the same words whether the ID is taken in your project or in one you cannot see."""
    return ValidationError(f"Model ID {model_id!r} is not available; choose another.", code="unique")


class Model(models.Model):
    project = models.ForeignKey("deployments.Project", on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(
        "model ID", max_length=63, unique=True, validators=[MODEL_ID_RULE],
        error_messages={"unique": "This model ID is not available; choose another."},
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_id"]

    def __str__(self) -> str:
        return self.model_id

    def unique_error_message(self, model_class: type[models.Model], unique_check: Sequence[str]) -> ValidationError:
        if tuple(unique_check) == ("model_id",):
            return model_id_not_available(self.model_id)
        return super().unique_error_message(model_class, unique_check)


def create_model(project: Project, **fields: Any) -> Model:
    """A new model in `project`; an ID taken meanwhile by a concurrent create gets the form's words, not a 500."""
    try:
        with transaction.atomic():
            return Model.objects.create(project=project, **fields)
    except IntegrityError:
        model_id = str(fields.get("model_id", ""))
        if Model.objects.filter(model_id=model_id).exists():
            raise model_id_not_available(model_id) from None
        raise
