from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import serializers

from console.models import ApiToken
from deployments.builds.upload import SINGLE_FILE_FRAMEWORKS, check_upload
from deployments.forms import parse_example_input
from deployments.models import Build, Membership, Model, Project, Role
from deployments.projects.memberships import find_user


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["slug", "name", "description", "created_at", "role"]
        read_only_fields = ["created_at", "role"]

    def get_role(self, project: Project) -> str | None:
        roles = self.context.get("roles") or {}
        return roles.get(project.pk)


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    username = serializers.CharField(write_only=True, help_text="Username or email of an existing account.")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_username(self, value: str) -> User:
        return find_user(value)


def project_field(queryset: QuerySet[Project]) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=queryset, error_messages={"does_not_exist": "You have no project with slug {value}."})


class ModelSerializer(serializers.ModelSerializer):
    project = project_field(Project.objects.all())

    class Meta:
        model = Model
        fields = ["model_id", "name", "description", "project", "created_at"]
        read_only_fields = ["created_at"]

    def get_fields(self) -> dict:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:  # other teams' projects are not even named in errors
            fields["project"] = project_field(Project.objects.for_user(request.user))
        return fields


class BuildSerializer(serializers.ModelSerializer):
    model_id = serializers.CharField(source="model.model_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Build
        fields = [
            "build_id", "model_id", "status", "framework", "source_name", "size_bytes", "sha256",
            "requirements", "example_input", "example_output", "input_schema", "output_schema", "timings",
            "tags", "error", "attempts", "created_by", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields


class BuildDetailSerializer(BuildSerializer):
    class Meta(BuildSerializer.Meta):
        fields = [*BuildSerializer.Meta.fields, "log"]
        read_only_fields = fields


class BuildUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .zip/.tar.gz bundle with berth.yaml, or a single model file.")
    framework = serializers.ChoiceField(choices=[("", "from berth.yaml"), *[(f, f) for f in SINGLE_FILE_FRAMEWORKS]],
                                        required=False, default="", allow_blank=True)
    example_input = serializers.CharField(required=False, default="", allow_blank=True,
                                          help_text="JSON record or list of records (single model file only).")

    def validate_example_input(self, value: str) -> list | None:
        try:
            return parse_example_input(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict) -> dict:
        try:
            check_upload(attrs["file"], attrs.get("framework") or "")
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"file": exc.messages}) from None
        return attrs


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]
