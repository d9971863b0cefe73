"""The saved cases' JSON shapes (deployments/api/cases.py): a case, a run's request and its results."""

from __future__ import annotations

from rest_framework import serializers

from deployments.api.strict import StrictInput
from deployments.models import SavedCase


class SavedCaseSerializer(StrictInput, serializers.ModelSerializer):
    """A saved case: `request` is sent as the body; the answer must equal `expected` (numbers within `tolerance`)."""

    # As sent: DRF would trim first and let a name past the schema's maxLength through (save_case trims it).
    name = serializers.CharField(max_length=100, trim_whitespace=False, help_text="Unique within the deployment.")
    request = serializers.JSONField(help_text="The JSON body sent to the deployment's gateway.")
    expected = serializers.JSONField(help_text="The JSON answer expected back.")
    tolerance = serializers.FloatField(default=0.0, min_value=0.0,
                                       help_text="How far each number may be from the expected one; 0: exact.")
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SavedCase
        fields = ["id", "name", "request", "expected", "tolerance", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class CaseRunRequestSerializer(StrictInput, serializers.Serializer):
    variation = serializers.CharField(required=False, allow_blank=True, default="",
                                      help_text="Send every case to this variation; empty: any, by traffic weight.")


class CaseResultSerializer(serializers.Serializer):
    case = serializers.IntegerField(help_text="The saved case's id.")
    name = serializers.CharField()
    passed = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True, help_text="The answer's HTTP status; null when none came.")
    latency_ms = serializers.FloatField(allow_null=True)
    served_by = serializers.CharField(help_text="The variation that answered.")
    request_id = serializers.CharField()
    differences = serializers.ListField(child=serializers.CharField(),
                                        help_text="Where the answer differs from the expected one; empty when it passed.")


class CaseRunSerializer(serializers.Serializer):
    deployment = serializers.IntegerField()
    variation = serializers.CharField(help_text="The variation asked for; empty: any.")
    ran = serializers.IntegerField()
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = CaseResultSerializer(many=True)
