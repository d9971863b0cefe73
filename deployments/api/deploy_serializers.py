"""Shapes of the deploy API. Rules are not checked here: `validate_spec` and `rollouts` do that,
and their per-field messages (`variations.0.replicas`) are what the API answers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from deployments.models import Deployment, Rollout, RolloutEvent
from deployments.models.variation import BOUNDS, SECRET_MASK
from deployments.rollouts.spec import FIELD_HELP, DeploySpec
from deployments.state.report import DeploymentReport


class EnvVarSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A valid environment variable name, e.g. API_URL.")
    value = serializers.CharField(allow_blank=True, help_text="Secret values are stored encrypted; "
                                  "send a secret without a value to keep the stored one.")
    secret = serializers.BooleanField(default=False)


def _bounded(name: str) -> serializers.IntegerField:
    """Documents the bounds in the schema; `rollouts.spec.check_number` is what enforces them."""
    low, high, default = BOUNDS[name]
    return serializers.IntegerField(required=False, min_value=low, max_value=high,
                                    help_text=f"{FIELD_HELP[name]} {low}-{high}, default {default}.")


class VariationSpecSerializer(serializers.Serializer):
    """One variation (documentation of the body; `validate_spec` checks it, with the wizard's messages)."""

    name = serializers.CharField(required=False, help_text=f"{FIELD_HELP['name']} Default `default`.")
    build_id = serializers.CharField(help_text=FIELD_HELP["build_id"])
    instance_type = serializers.CharField(required=False, help_text=FIELD_HELP["instance_type"])
    replicas = _bounded("replicas")
    server_workers = _bounded("server_workers")
    request_timeout_ms = _bounded("request_timeout_ms")
    deploy_timeout_min = _bounded("deploy_timeout_min")
    max_batch_size = _bounded("max_batch_size")
    traffic_percent = _bounded("traffic_percent")
    shadow = serializers.BooleanField(required=False, help_text=FIELD_HELP["shadow"])
    daemon_mode = serializers.BooleanField(required=False, help_text=FIELD_HELP["daemon_mode"])
    outbound_network = serializers.BooleanField(required=False, help_text=FIELD_HELP["outbound_network"])
    iam_role_arn = serializers.CharField(required=False, allow_blank=True, help_text=FIELD_HELP["iam_role_arn"])
    service_account_key_secret_name = serializers.CharField(
        required=False, allow_blank=True, help_text=FIELD_HELP["service_account_key_secret_name"])
    env = EnvVarSerializer(many=True, required=False)


class DeployRequestSerializer(serializers.Serializer):
    """Either the whole spec (`variations`), or one `variation` merged into what serves now."""

    variations = VariationSpecSerializer(many=True, required=False,
                                         help_text="Every variation of the new revision (replaces the spec).")
    variation = VariationSpecSerializer(required=False, help_text="One variation to deploy; the other "
                                        "serving variations are kept, and fields left out keep their values.")
    strategy = serializers.CharField(required=False, default="rolling")
    environment = serializers.CharField(required=False, default="production")


class ScaleSerializer(serializers.Serializer):
    variation = serializers.CharField(required=False, default="default")
    replicas = serializers.JSONField(
        help_text=f"New replica count, {BOUNDS['replicas'][0]}-{BOUNDS['replicas'][1]}.")


class RollbackSerializer(serializers.Serializer):
    revision = serializers.JSONField(help_text="An earlier revision that succeeded.")


def masked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A frozen spec as callers may read it: secret env values masked."""
    return {**spec, "variations": [
        {**v, "env": [{**e, "value": SECRET_MASK} if e.get("secret") else e for e in v.get("env", [])]}
        for v in spec.get("variations", [])]}


class RolloutSerializer(serializers.ModelSerializer):
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    model_id = serializers.CharField(source="deployment.model.model_id", read_only=True)
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, default=None)
    spec = serializers.SerializerMethodField()
    duration_s = serializers.FloatField(read_only=True)

    class Meta:
        model = Rollout
        fields = ["id", "deployment", "model_id", "revision", "action", "status", "reason", "source_revision",
                  "strategy", "spec", "triggered_by", "attempts", "created_at", "started_at", "finished_at",
                  "duration_s"]
        read_only_fields = fields

    def get_spec(self, rollout: Rollout) -> dict[str, Any]:
        return masked_spec(rollout.spec or {})


class RolloutEventSerializer(serializers.ModelSerializer):
    revision = serializers.IntegerField(source="rollout.revision", read_only=True, default=None)

    class Meta:
        model = RolloutEvent
        fields = ["id", "rollout", "revision", "kind", "level", "message", "variation", "replica", "data",
                  "created_at"]
        read_only_fields = fields


class DeploymentSerializer(serializers.ModelSerializer):
    """A deployment as listed: stored status, the serving revision's variations."""

    model_id = serializers.CharField(source="model.model_id", read_only=True)
    project = serializers.CharField(source="model.project.slug", read_only=True)
    endpoint_url = serializers.SerializerMethodField()
    current_revision = serializers.IntegerField(source="current_rollout.revision", read_only=True, default=None)
    variations = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "model_id", "project", "environment", "status", "status_reason", "endpoint_url",
                  "gateway_url", "current_revision", "variations", "created_at", "updated_at"]
        read_only_fields = fields

    def get_endpoint_url(self, deployment: Deployment) -> str:
        return deployment.predict_url if deployment.is_serving else ""

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

    def get_active_rollout(self, deployment: Deployment) -> dict[str, Any] | None:
        active = deployment.active_rollout
        if active is None:
            return None
        return {"id": active.pk, "revision": active.revision, "action": active.action, "status": active.status}
