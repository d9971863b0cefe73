"""Endpoint keys in the API: what a key's row shows, what creating one takes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from deployments.api.serializers import NAMED
from deployments.api.strict import StrictInput
from deployments.models import EndpointKey
from deployments.models.endpoint_key import KEY_LIFETIMES

# What a viewer does not see of a key (answered null): who holds it is the deployers' business.
DEPLOYERS_ONLY = ("prefix", "created_by", "last_used_at")


class EndpointKeySerializer(StrictInput, serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True,
                                       default=None, help_text="null for viewers, or when the account is gone.")
    expires_in = serializers.ChoiceField(
        choices=list(KEY_LIFETIMES), default="never", write_only=True,
        help_text="How long the new key lasts: " + ", ".join(KEY_LIFETIMES) + " (default never).")

    class Meta:
        model = EndpointKey
        fields = ["id", "name", "status", "prefix", "created_by", "created_at", "expires_at", "last_used_at",
                  "revoked_at", "expires_in"]
        read_only_fields = ["id", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
        extra_kwargs = {**NAMED, "prefix": {"allow_null": True, "help_text": "First characters of the key; "
                                            "null for viewers."},
                        "last_used_at": {"help_text": "Learnt from the gateways' /metrics every minute; "
                                         "null for viewers."}}

    def to_representation(self, instance: EndpointKey) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("can_manage", True):
            data.update(dict.fromkeys(DEPLOYERS_ONLY))
        return data


class NewEndpointKeySerializer(EndpointKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once, never again.")

    class Meta(EndpointKeySerializer.Meta):
        fields = [*EndpointKeySerializer.Meta.fields, "key"]
