"""The build forms of the UI: upload (with label, tags and "upload anyway") and edit a build's label and tags."""

from __future__ import annotations

from django import forms

from deployments import forms as base
from deployments.builds.upload import UploadOptions
from deployments.models.build import LABEL_MAX, clean_label, clean_tags

LABEL_HELP = "Optional, e.g. v2 or retrained-may: shown with the build's id wherever it is listed."
TAGS_HELP = "Optional, separated by commas, e.g. candidate, may-data."


def split_tags(raw: str) -> list[str]:
    return [tag for tag in (raw or "").replace("\n", ",").split(",") if tag.strip()]


class LabelTagsFields(forms.Form):
    label = forms.CharField(required=False, help_text=LABEL_HELP,  # clean_label words the limit
                            widget=forms.TextInput(attrs={"maxlength": LABEL_MAX}))
    tags = forms.CharField(required=False, help_text=TAGS_HELP)

    def clean_label(self) -> str:
        return clean_label(self.cleaned_data.get("label", ""))

    def clean_tags(self) -> list[str]:
        return clean_tags(split_tags(self.cleaned_data.get("tags", "")))


class BuildUploadForm(base.BuildUploadForm, LabelTagsFields):
    field_order = ["file", "framework", "example_input", "label", "tags", "allow_duplicate"]  # noqa: RUF012
    allow_duplicate = forms.BooleanField(
        required=False, label="Upload anyway",
        help_text="This model already has a build of this exact file; upload it again as a new build "
                  "(it needs a label of its own).",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Offered only once an upload was refused as the same file (offer_duplicate), or when ticked.
        if self.data.get("allow_duplicate") not in ("on", "true", "True"):
            self.fields["allow_duplicate"].widget = forms.HiddenInput()

    def offer_duplicate(self, refusal: forms.ValidationError) -> None:
        """Refuse the file as one the model has, and offer "Upload anyway" with the file chosen again."""
        self.fields["allow_duplicate"].widget = forms.CheckboxInput()
        self.add_error("file", refusal)

    @property
    def options(self) -> UploadOptions:
        data = self.cleaned_data
        return UploadOptions(label=data["label"], tags=data["tags"], allow_duplicate=data["allow_duplicate"])


class BuildEditForm(LabelTagsFields):
    """A build's label and tags, the only things about it that change after upload."""
