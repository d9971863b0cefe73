"""Forms: the UI's edge, sharing every rule with the API serializers through the models."""

from __future__ import annotations

import json

from django import forms

from deployments.builds.upload import SINGLE_FILE_FRAMEWORKS, check_upload
from deployments.models import Model, Project, Role


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["slug", "name", "description"]
        help_texts = {"slug": "Short identifier used in URLs, e.g. fraud-team."}


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = ["model_id", "name", "description"]
        help_texts = {"model_id": "Lowercase slug used by clients and the CLI, e.g. churn_model."}


class InviteForm(forms.Form):
    """Who to invite, taken as typed: whether such an account exists is never checked here, nor said."""

    invitee = forms.CharField(label="Username or email", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def parse_example_input(raw: str) -> list | None:
    """Example input typed in a form: a JSON list of records or one record."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise forms.ValidationError(f"Example input is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
        raise forms.ValidationError('Example input must be a record or a list of records, e.g. [{"x": 1}].')
    return value


class BuildUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A .zip or .tar.gz bundle with a berth.yaml, or a single model file (then choose its framework)."
    )
    framework = forms.ChoiceField(
        required=False, choices=[("", "From berth.yaml")] + [(f, f) for f in SINGLE_FILE_FRAMEWORKS],
    )
    example_input = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='For a single model file: a JSON record or list of records, e.g. [{"x": 1.0}].',
    )

    def clean_example_input(self) -> list | None:
        return parse_example_input(self.cleaned_data.get("example_input", ""))

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None:
            try:
                check_upload(upload, cleaned.get("framework") or "")
            except forms.ValidationError as exc:
                self.add_error("file", exc)
        return cleaned
