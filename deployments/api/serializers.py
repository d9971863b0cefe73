from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from console.models import LIFETIMES, ApiToken
from deployments.api.strict import StrictInput
from deployments.builds.upload import SINGLE_FILE_FRAMEWORKS, UploadOptions, check_upload
from deployments.builds.usage import build_uses
from deployments.forms import parse_example_input
from deployments.models import Build, Invitation, Membership, Model, Project, Role
from deployments.models.build import LABEL_MAX, TAG_RULE, TAGS_MAX, clean_label, clean_tags
from deployments.models.model import MODEL_ID_RULE, model_id_not_available
from deployments.models.project import SLUG_RULE

# DRF refuses a name that is blank once trimmed; saying so as a pattern puts the rule in the schema too.
NOT_BLANK = RegexValidator(r"\S", "This field may not be blank.")
NAMED = {"name": {"validators": [NOT_BLANK]}}


EXACT = {"trim_whitespace": False}  # an identifier is taken as sent, and then must match its rule


def whole_match(rule: RegexValidator, value: str) -> str:
    """`rule` over the whole value: its `$` alone would also let "fraud\\n" through."""
    if re.fullmatch(rule.regex, value) is None:
        raise serializers.ValidationError(str(rule.message))
    return value


class ProjectSerializer(StrictInput, serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["slug", "name", "description", "created_at", "role"]
        read_only_fields = ["created_at", "role"]
        extra_kwargs = {**NAMED, "slug": EXACT}

    def validate_slug(self, value: str) -> str:
        return whole_match(SLUG_RULE, value)

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, project: Project) -> str | None:
        roles = self.context.get("roles") or {}  # the caller's, read once for a whole list
        if project.pk in roles:
            return roles[project.pk]
        request = self.context.get("request")  # a project made after they were read: the one just created
        return project.role_of(request.user) if request is not None else None


class ProjectUpdateSerializer(ProjectSerializer):
    """A project's slug is fixed once it is created: URLs, the CLI and scripts name it."""

    class Meta(ProjectSerializer.Meta):
        read_only_fields = ["slug", "created_at", "role"]

    fixed_messages = {"slug": "A project's slug cannot change."}


class MembershipSerializer(StrictInput, serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class InvitationSerializer(StrictInput, serializers.ModelSerializer):
    """A project's pending invitation as its admins see it: what they typed, never the account it names."""

    invitee = serializers.CharField(max_length=254, validators=[NOT_BLANK],
                                    help_text="Username or email of the person to invite.")
    role = serializers.ChoiceField(choices=Role.choices)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "invitee", "role", "invited_by", "created_at"]
        read_only_fields = ["id", "invited_by", "created_at"]


class InvitationSentSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="The same words whether or not the invitee has an account.")


class MyInvitationSerializer(serializers.ModelSerializer):
    """An invitation waiting for the caller's answer."""

    project = serializers.CharField(source="project.slug", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "project", "project_name", "role", "invited_by", "created_at"]
        read_only_fields = fields


class JoinedSerializer(serializers.ModelSerializer):
    """The membership an accepted invitation made (or the higher role the caller already had)."""

    project = serializers.CharField(source="project.slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["project", "role", "created_at"]
        read_only_fields = fields


def project_field(queryset: QuerySet[Project]) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=queryset, error_messages={"does_not_exist": "You have no project with slug {value}."})


class ModelSerializer(StrictInput, serializers.ModelSerializer):
    project = project_field(Project.objects.all())

    class Meta:
        model = Model
        fields = ["model_id", "name", "description", "project", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {**NAMED, "model_id": EXACT}

    def validate_model_id(self, value: str) -> str:
        value = whole_match(MODEL_ID_RULE, value)
        if self.instance is None and Model.objects.filter(model_id=value).exists():
            raise serializers.ValidationError(model_id_not_available(value).messages)
        return value

    def get_fields(self) -> dict:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and not fields["project"].read_only:  # other teams' projects are not even named in errors
            fields["project"] = project_field(Project.objects.for_user(request.user))
        fields["model_id"].validators = [v for v in fields["model_id"].validators  # validate_model_id words it
                                         if not isinstance(v, UniqueValidator)]
        return fields


class ModelUpdateSerializer(ModelSerializer):
    """A model's ID and project are fixed once it is created: its deployments' endpoint URLs are made of them."""

    project = serializers.CharField(source="project.slug", read_only=True)  # type: ignore[assignment]

    class Meta(ModelSerializer.Meta):
        read_only_fields = ["model_id", "project", "created_at"]

    fixed_messages = {"model_id": "A model ID cannot change.",
                      "project": "A model cannot move to another project."}


def _domain(check: Callable[[Any], Any], value: Any) -> Any:
    """A model-level check's ValidationError as the serializer's."""
    try:
        return check(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


TAGS_FIELD_HELP = "Up to 10 tags, each 1-32 letters, digits or . _ : / - (starting with a letter or digit)."
LABEL_FIELD_HELP = "Optional version label, e.g. v2 (one line, at most 64 characters)."


def label_field(**kwargs: Any) -> serializers.CharField:
    """A build's label; its limit in the UI's words (and in the schema)."""
    return serializers.CharField(required=False, allow_blank=True, max_length=LABEL_MAX, help_text=LABEL_FIELD_HELP,
                                 error_messages={"max_length": f"A label is at most {LABEL_MAX} characters."},
                                 **kwargs)


class TagField(serializers.RegexField):
    """One tag: text only (a JSON 0 is refused, not read as "0"; StrictInput does not look inside lists)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def tags_field(**kwargs: Any) -> serializers.ListField:
    """A build's tags, their rule in the schema as a pattern and a count."""
    tag = TagField(rf"^{TAG_RULE.pattern}$", help_text="e.g. candidate",
                                 error_messages={"invalid": "Use 1-32 letters, digits or . _ : / - starting with a "
                                                            "letter or digit, e.g. prod-candidate."})
    return serializers.ListField(child=tag, required=False, max_length=TAGS_MAX, help_text=TAGS_FIELD_HELP,
                                 error_messages={"max_length": f"A build has at most {TAGS_MAX} tags."}, **kwargs)


class BuildSerializer(serializers.ModelSerializer):
    model_id = serializers.CharField(source="model.model_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Build
        fields = [
            "build_id", "model_id", "label", "tags", "status", "framework", "source_name", "size_bytes",
            "unpacked_bytes", "sha256", "requirements", "example_input", "example_output", "input_schema",
            "output_schema", "timings", "error", "attempts", "created_by", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields


class BuildUseSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(source="deployment.pk", help_text="The deployment's id.")
    model_id = serializers.CharField(source="deployment.model.model_id")
    environment = serializers.CharField(source="deployment.environment")
    serving = serializers.ListField(child=serializers.CharField(),
                                    help_text="Variations serving this build now.")
    revisions = serializers.ListField(child=serializers.IntegerField(),
                                      help_text="Revisions whose spec names this build (a rollback may return to).")


class BuildDetailSerializer(BuildSerializer):
    used_by = serializers.SerializerMethodField(help_text="Deployments using this build: while any does, it can't be "
                                                          "deleted.")

    class Meta(BuildSerializer.Meta):
        fields = [*BuildSerializer.Meta.fields, "used_by", "log"]
        read_only_fields = fields

    @extend_schema_field(BuildUseSerializer(many=True))
    def get_used_by(self, build: Build) -> list[dict[str, Any]]:
        return list(BuildUseSerializer(build_uses(build), many=True).data)


class BuildUpdateSerializer(StrictInput, BuildSerializer):
    """A build's label and tags are all that change after upload (PATCH or PUT)."""

    label = label_field()  # type: ignore[assignment]
    tags = tags_field()

    class Meta(BuildSerializer.Meta):
        read_only_fields = [f for f in BuildSerializer.Meta.fields if f not in ("label", "tags")]

    fixed_messages = {"status": "A build's status is set by its validation.",
                      "build_id": "A build ID cannot change."}

    def validate_label(self, value: str) -> str:
        return _domain(clean_label, value)

    def validate_tags(self, value: list[str]) -> list[str]:
        return _domain(clean_tags, value)

    def to_representation(self, instance: Build) -> dict[str, Any]:
        # As a GET shows it: a partial update would leave out fields that have a default (created_by).
        return dict(BuildSerializer(instance, context=self.context).data)


class BuildUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .zip/.tar.gz bundle with berth.yaml, or a single model file.")
    framework = serializers.ChoiceField(choices=[("", "from berth.yaml"), *[(f, f) for f in SINGLE_FILE_FRAMEWORKS]],
                                        required=False, default="", allow_blank=True)
    example_input = serializers.CharField(required=False, default="", allow_blank=True,
                                          help_text="JSON record or list of records (single model file only).")
    label = label_field(default="")  # type: ignore[assignment]
    tags = tags_field(default=list)  # multipart: one `tags` part per tag
    allow_duplicate = serializers.BooleanField(
        required=False, default=False,
        help_text="Upload a file this model already has (same SHA-256) as a new build on purpose; needs a label "
                  "of its own. Without it such an upload answers 409 naming the build it matches.")

    def validate_example_input(self, value: str) -> list | None:
        return _domain(parse_example_input, value)

    def validate_label(self, value: str) -> str:
        return _domain(clean_label, value)

    def validate_tags(self, value: list[str]) -> list[str]:
        return _domain(clean_tags, value)

    def validate(self, attrs: dict) -> dict:
        try:
            check_upload(attrs["file"], attrs.get("framework") or "")
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"file": exc.messages}) from None
        return attrs

    @property
    def options(self) -> UploadOptions:
        data = self.validated_data
        return UploadOptions(label=data["label"], tags=data["tags"], allow_duplicate=data["allow_duplicate"])


class ApiTokenSerializer(StrictInput, serializers.ModelSerializer):
    expires_in = serializers.ChoiceField(
        choices=list(LIFETIMES), default="never", write_only=True,
        help_text="How long the new token lasts: " + ", ".join(LIFETIMES) + " (default never).")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "expires_in"]
        read_only_fields = ["id", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
        extra_kwargs = NAMED


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself: shown this once, never again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
