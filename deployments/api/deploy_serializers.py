"""Shapes of the deploy API. Rules are not checked here: `validate_spec` and `rollouts` do that,
and their per-field messages (`variations.0.replicas`) are what the API answers."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deployments.models import Deployment, Rollout, RolloutEvent
from deployments.models.deployment import ENVIRONMENT_RULE
from deployments.models.rollout import RolloutAction, RolloutStatus, RolloutStrategy
from deployments.models.variation import BOUNDS, SECRET_MASK, VARIATION_NAME_RULE
from deployments.rollouts.spec import (
    ENV_NAME,
    FIELD_HELP,
    IAM_ROLE_ARN,
    K8S_SECRET_NAME,
    MAX_ENV_VALUE,
    MAX_ENV_VARS,
    RESERVED_ENV_PREFIXES,
    DeploySpec,
)
from deployments.state.report import DeploymentReport

# The request bodies below document what `validate_spec` and `rollouts.requests` accept; the views check
# only their JSON types against them (deployments/api/strict.py), the domain checks the values.


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": MAX_ENV_VALUE}, {"type": "number"}],
                      "nullable": True})
class EnvValueField(serializers.Field):
    json_types = ((str, int, float), "text or a number")


class EnvVarSerializer(serializers.Serializer):
    name = serializers.RegexField(ENV_NAME.pattern, max_length=128,
                                  help_text="A valid environment variable name, e.g. API_URL; names starting with "
                                            f"{' or '.join(RESERVED_ENV_PREFIXES)} are reserved.")
    value = EnvValueField(required=False, allow_null=True,
                          help_text=f"At most {MAX_ENV_VALUE} characters. Secret values are stored encrypted; "
                                    "send a secret without a value to keep the stored one.")
    secret = serializers.BooleanField(default=False)


def _bounded(name: str) -> serializers.IntegerField:
    """Documents the bounds in the schema; `rollouts.spec.check_number` is what enforces them."""
    low, high, default = BOUNDS[name]
    return serializers.IntegerField(required=False, allow_null=True, min_value=low, max_value=high,
                                    help_text=f"{FIELD_HELP[name]} {low}-{high}, default {default} (also when null).")


def _text(rule: str, help_text: str, max_length: int | None = None) -> serializers.RegexField:
    """An optional text field whose blank (or null) means its default; `rule` is the check_* function's pattern."""
    return serializers.RegexField(f"^$|{rule}", required=False, allow_blank=True, allow_null=True,
                                  max_length=max_length, help_text=help_text)


def _pattern(validator: RegexValidator) -> str:
    return re.compile(validator.regex).pattern


class VariationSpecSerializer(serializers.Serializer):
    """One variation (documentation of the body; `validate_spec` checks it, with the wizard's messages)."""

    name = _text(_pattern(VARIATION_NAME_RULE), f"{FIELD_HELP['name']} Default `default`.", max_length=36)
    build_id = serializers.UUIDField(help_text=FIELD_HELP["build_id"])
    instance_type = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                          help_text=FIELD_HELP["instance_type"])
    replicas = _bounded("replicas")
    server_workers = _bounded("server_workers")
    request_timeout_ms = _bounded("request_timeout_ms")
    deploy_timeout_min = _bounded("deploy_timeout_min")
    max_batch_size = _bounded("max_batch_size")
    traffic_percent = _bounded("traffic_percent")
    shadow = serializers.BooleanField(required=False, help_text=FIELD_HELP["shadow"])
    daemon_mode = serializers.BooleanField(required=False, help_text=FIELD_HELP["daemon_mode"])
    outbound_network = serializers.BooleanField(required=False, help_text=FIELD_HELP["outbound_network"])
    iam_role_arn = _text(IAM_ROLE_ARN.pattern, FIELD_HELP["iam_role_arn"])
    service_account_key_secret_name = _text(K8S_SECRET_NAME.pattern, FIELD_HELP["service_account_key_secret_name"])
    env = EnvVarSerializer(many=True, required=False, allow_null=True,
                           max_length=MAX_ENV_VARS)  # type: ignore[call-arg]  # ListSerializer takes it


class VariationChangeSerializer(VariationSpecSerializer):
    """One variation to change: fields left out keep the values of the variation of that name serving now."""

    build_id = serializers.UUIDField(required=False, help_text=f"{FIELD_HELP['build_id']} Needed for a new "
                                     "variation; left out, the variation keeps its build.")


class DeployRequestSerializer(serializers.Serializer):
    """Either the whole spec (`variations`), or one `variation` merged into what serves now."""

    variations = VariationSpecSerializer(many=True, required=False, allow_empty=False,
                                         help_text="Every variation of the new revision (replaces the spec).")
    variation = VariationChangeSerializer(required=False, help_text="One variation to deploy; the other serving "
                                          "variations are kept, and fields left out keep their values.")
    strategy = serializers.ChoiceField(choices=RolloutStrategy.choices, required=False, allow_blank=True,
                                       allow_null=True, help_text="Default `rolling`.")
    require_key = serializers.BooleanField(required=False, allow_null=True, default=None,
                                           help_text="Predict calls need an endpoint key (docs/endpoint-keys.md); "
                                           "left out: as the deployment has it, else the console's default.")
    environment = serializers.RegexField(_pattern(ENVIRONMENT_RULE), max_length=32, required=False,
                                         default="production", help_text=str(ENVIRONMENT_RULE.message))


class DeployRequestSchema(OpenApiSerializerExtension):
    """A deploy sends `variations` or `variation`, never both (the server refuses either mistake)."""

    target_class = DeployRequestSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "oneOf": [{"required": ["variations"]}, {"required": ["variation"]}]}


class ScaleSerializer(serializers.Serializer):
    variation = serializers.RegexField(_pattern(VARIATION_NAME_RULE), max_length=36, required=False,
                                       default="default", help_text="A variation serving now.")
    replicas = serializers.IntegerField(min_value=BOUNDS["replicas"][0], max_value=BOUNDS["replicas"][1],
                                        help_text="New replica count.")


class SharesField(serializers.DictField):
    json_types = ((dict,), "an object of variation names and percents")


class TrafficSerializer(serializers.Serializer):
    traffic = SharesField(child=serializers.IntegerField(min_value=0, max_value=100),
                          help_text="Percent of requests per serving variation, adding up to 100, e.g. "
                                    '`{"default": 80, "challenger": 20}`. One variation left out takes what '
                                    "remains (with two variations one share is enough); shadows get no share.")


class RollbackSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, help_text="An earlier revision that succeeded.")


class EventsAfterSerializer(serializers.Serializer):
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1,
                                     help_text="Only events with a larger id (the last one you have).")


def masked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A frozen spec as callers may read it: secret env values masked."""
    return {**spec, "variations": [
        {**v, "env": [{**e, "value": SECRET_MASK} if e.get("secret") else e for e in v.get("env", [])]}
        for v in spec.get("variations", [])]}


class RolloutSerializer(serializers.ModelSerializer):
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    model_id = serializers.CharField(source="deployment.model.model_id", read_only=True)
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, default=None,
                                         allow_null=True, help_text="Null when the system asked for it.")
    spec = serializers.SerializerMethodField()
    duration_s = serializers.FloatField(read_only=True, allow_null=True, help_text="Null until it has started.")

    class Meta:
        model = Rollout
        fields = ["id", "deployment", "model_id", "revision", "action", "status", "reason", "source_revision",
                  "strategy", "spec", "triggered_by", "attempts", "created_at", "started_at", "finished_at",
                  "duration_s"]
        read_only_fields = fields

    def get_spec(self, rollout: Rollout) -> dict[str, Any]:
        return masked_spec(rollout.spec or {})


class RolloutEventSerializer(serializers.ModelSerializer):
    revision = serializers.IntegerField(source="rollout.revision", read_only=True, default=None, allow_null=True,
                                        help_text="Null for an event of no rollout (a health check's).")

    class Meta:
        model = RolloutEvent
        fields = ["id", "rollout", "revision", "kind", "level", "message", "variation", "replica", "data",
                  "created_at"]
        read_only_fields = fields


# --- shapes of what deployments answer (documentation only) ----------------------------------------

class ServingEnvVarSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(help_text=f"{SECRET_MASK} for a secret.")
    secret = serializers.BooleanField()


class ServingVariationSerializer(serializers.Serializer):
    """A variation of the serving revision, as frozen in its spec."""

    name = serializers.CharField()
    build_id = serializers.CharField()
    instance_type = serializers.CharField()
    replicas = serializers.IntegerField()
    server_workers = serializers.IntegerField()
    request_timeout_ms = serializers.IntegerField()
    deploy_timeout_min = serializers.IntegerField()
    max_batch_size = serializers.IntegerField()
    env = ServingEnvVarSerializer(many=True)
    daemon_mode = serializers.BooleanField()
    outbound_network = serializers.BooleanField()
    iam_role_arn = serializers.CharField()
    service_account_key_secret_name = serializers.CharField()
    traffic_percent = serializers.IntegerField()
    shadow = serializers.BooleanField()
    predict_url = serializers.CharField()


class ReplicaSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField()
    role = serializers.CharField()
    serving = serializers.BooleanField()
    reason = serializers.CharField()
    restarts = serializers.IntegerField()
    last_exit = serializers.CharField()


class VariationReplicasSerializer(serializers.Serializer):
    name = serializers.CharField()
    ready = serializers.IntegerField()
    desired = serializers.IntegerField()
    target = serializers.IntegerField(allow_null=True, help_text="What the revision rolling out asks for, if it "
                                      "changes this variation.")
    crashing = serializers.IntegerField()
    replicas = ReplicaSerializer(many=True)


class ProgressSerializer(serializers.Serializer):
    ready = serializers.IntegerField()
    desired = serializers.IntegerField()


class ReplicasSerializer(serializers.Serializer):
    """The replicas as the runtime was last seen to run them, and how long ago."""

    ready = serializers.IntegerField()
    desired = serializers.IntegerField()
    crashing = serializers.IntegerField()
    live = serializers.BooleanField(help_text="The runtime answered the last check, and that check is recent.")
    observed_at = serializers.DateTimeField(allow_null=True)
    observation_age_s = serializers.IntegerField(allow_null=True)
    runtime_error = serializers.CharField()
    freshness = serializers.CharField()
    rolling_out = ProgressSerializer(allow_null=True)
    variations = VariationReplicasSerializer(many=True)


class ActiveRolloutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    revision = serializers.IntegerField()
    action = serializers.ChoiceField(choices=RolloutAction.choices)
    status = serializers.ChoiceField(choices=RolloutStatus.choices)


class DeploymentSerializer(serializers.ModelSerializer):
    """A deployment as listed: stored status, the serving revision's variations."""

    model_id = serializers.CharField(source="model.model_id", read_only=True)
    project = serializers.CharField(source="model.project.slug", read_only=True)
    endpoint_url = serializers.SerializerMethodField()
    current_revision = serializers.IntegerField(source="current_rollout.revision", read_only=True, default=None,
                                                allow_null=True, help_text="Null while no revision serves.")
    variations = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "model_id", "project", "environment", "status", "status_reason", "endpoint_url",
                  "gateway_url", "current_revision", "variations", "created_at", "updated_at"]
        read_only_fields = fields

    def get_endpoint_url(self, deployment: Deployment) -> str:
        return deployment.predict_url if deployment.is_serving else ""

    @extend_schema_field(ServingVariationSerializer(many=True))
    def get_variations(self, deployment: Deployment) -> list[dict[str, Any]]:
        if not deployment.is_serving or deployment.current_rollout is None:
            return []
        spec = DeploySpec.from_json(masked_spec(deployment.current_rollout.spec))
        return [{**v.to_json(), "predict_url": deployment.variation_predict_url(v.name)} for v in spec.variations]


class DeploymentDetailSerializer(DeploymentSerializer):
    """One deployment: its stored status, the replicas as last observed (with when), and the rollout in progress."""

    status = serializers.SerializerMethodField()
    status_reason = serializers.SerializerMethodField()
    replicas = serializers.SerializerMethodField()
    active_rollout = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "replicas", "active_rollout"]
        read_only_fields = fields

    def _report(self) -> DeploymentReport:
        return self.context["report"]

    def get_status(self, deployment: Deployment) -> str:
        return self._report().status

    def get_status_reason(self, deployment: Deployment) -> str:
        return self._report().reason

    @extend_schema_field(ReplicasSerializer)
    def get_replicas(self, deployment: Deployment) -> dict[str, Any]:
        report = self._report()
        return {"ready": report.ready, "desired": report.desired, "crashing": report.crashing,
                "live": report.live, "observed_at": report.observed_at, "observation_age_s": report.age_s,
                "runtime_error": report.runtime_error, "freshness": report.freshness,
                "rolling_out": None if report.rolling_out is None else {
                    "ready": report.rolling_out.ready, "desired": report.rolling_out.desired},
                "variations": [
                    {"name": v.name, "ready": v.ready, "desired": v.desired, "target": v.target,
                     "crashing": v.crashing,
                     "replicas": [{"name": r.name, "state": r.state, "role": r.role, "serving": r.serving,
                                   "reason": r.reason, "restarts": r.restarts, "last_exit": r.last_exit}
                                  for r in v.replicas]}
                    for v in report.variations]}

    @extend_schema_field(ActiveRolloutSerializer(allow_null=True))
    def get_active_rollout(self, deployment: Deployment) -> dict[str, Any] | None:
        active = deployment.active_rollout
        if active is None:
            return None
        return {"id": active.pk, "revision": active.revision, "action": active.action, "status": active.status}
