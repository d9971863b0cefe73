"""REST API for deployments: deploy, scale, rollback, undeploy, and reading rollouts and events.

Viewers read, deployers write, outsiders get 404. Every change answers 202 with the Rollout
it queued, or 409 while another rollout of the deployment is still pending or in progress.
Request bodies have their JSON types checked against the serializers that document them;
`rollouts.spec` and `rollouts.requests` check the values, with the wizard's words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_deployment_for_user, get_model_for_user, get_rollout_for_user
from deployments.api import deploy_serializers as s
from deployments.api.base import ApiDefaults
from deployments.api.pagination import paginated
from deployments.api.schema import CONFLICT
from deployments.api.strict import json_type_errors
from deployments.filtersets import DeploymentFilterSet
from deployments.models import Deployment, Role, Rollout
from deployments.rollouts.requests import (
    RolloutConflict,
    deploy,
    request_rollback,
    request_scale,
    request_traffic,
    request_undeploy,
)
from deployments.rollouts.spec import check_environment
from deployments.rollouts.spec_edit import last_served_spec, merge_variation
from deployments.state.report import report


def _queued(request_change: Callable[[], Rollout]) -> Response:
    """Run one rollouts.* request: 202 with the rollout, 409 on a running rollout (400s raise)."""
    try:
        rollout = request_change()
    except RolloutConflict as exc:
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
    return Response(s.RolloutSerializer(rollout).data, status=status.HTTP_202_ACCEPTED)


def _body(documented_by: type[serializers.Serializer], body: Any, shape: str) -> Mapping[str, Any]:
    """The request body, once its JSON types are those `documented_by` gives."""
    if not isinstance(body, Mapping):
        raise ValidationError({"detail": f"Send a JSON object: {shape}."})
    errors = json_type_errors(documented_by(), body)
    if errors:
        raise ValidationError(errors)
    return body


def _environment(body: Mapping[str, Any]) -> str:
    try:
        return check_environment(body.get("environment", "production"))
    except DjangoValidationError as exc:
        raise ValidationError({"environment": exc.messages}) from None


def _spec_data(body: Mapping[str, Any], deployment: Deployment | None) -> dict[str, Any]:
    if "variation" in body and "variations" in body:
        raise ValidationError({"variation": ["Send either variation or variations, not both."]})
    if "variation" in body:
        if not isinstance(body["variation"], dict):
            raise ValidationError({"variation": ["Send the variation as an object."]})
        data = merge_variation(last_served_spec(deployment), body["variation"])
    else:
        data = {"variations": body.get("variations")}
    if body.get("strategy"):
        data["strategy"] = body["strategy"]
    if body.get("require_key") is not None:
        data["require_key"] = body["require_key"]
    return data


class ModelDeployView(ApiDefaults):
    @extend_schema(request=s.DeployRequestSerializer, responses={202: s.RolloutSerializer, 409: CONFLICT})
    def post(self, request: Request, model_id: str) -> Response:
        """Deploy builds of the model as a real-time service (creates the deployment on first use)."""
        model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
        body = _body(s.DeployRequestSerializer, request.data, '{"variations": [...]} or {"variation": {...}}')
        environment = _environment(body)
        deployment = Deployment.objects.filter(model=model, environment=environment).first()
        data = _spec_data(body, deployment)
        return _queued(lambda: deploy(model, data, request.user, environment))


class DeploymentViewSet(ApiDefaults, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeploymentSerializer
    filterset_class = DeploymentFilterSet

    def get_queryset(self) -> QuerySet[Deployment]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Deployment.objects.none()
        return Deployment.objects.for_user(self.request.user).select_related("model__project", "current_rollout")

    def get_object(self) -> Deployment:
        deployment, _ = get_deployment_for_user(self.request.user, self.kwargs["pk"])
        return deployment

    def _writable(self, pk: str) -> Deployment:
        deployment, _ = get_deployment_for_user(self.request.user, pk, Role.DEPLOYER)
        return deployment

    @extend_schema(responses=s.DeploymentDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        """Status, variations, replicas as last observed (and how long ago), endpoint URL, current revision."""
        deployment = self.get_object()
        serializer = s.DeploymentDetailSerializer(deployment, context={"report": report(deployment)})
        return Response(serializer.data)

    @extend_schema(request=s.ScaleSerializer, responses={202: s.RolloutSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def scale(self, request: Request, pk: str) -> Response:
        """Change one variation's replica count; running replicas keep serving."""
        deployment = self._writable(pk)
        body = _body(s.ScaleSerializer, request.data, '{"variation": "default", "replicas": 3}')
        variation, replicas = body.get("variation", "default"), body.get("replicas")
        return _queued(lambda: request_scale(deployment, variation, replicas, request.user))

    @extend_schema(request=s.TrafficSerializer, responses={202: s.RolloutSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def traffic(self, request: Request, pk: str) -> Response:
        """Split the traffic between the serving variations in one request; no new replica starts."""
        deployment = self._writable(pk)
        shares = _body(s.TrafficSerializer, request.data, '{"traffic": {"default": 80, "challenger": 20}}')
        return _queued(lambda: request_traffic(deployment, shares.get("traffic"), request.user))

    @extend_schema(request=s.RollbackSerializer, responses={202: s.RolloutSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str) -> Response:
        """Roll out the spec of an earlier revision that succeeded."""
        deployment = self._writable(pk)
        revision = _body(s.RollbackSerializer, request.data, '{"revision": 2}').get("revision")
        return _queued(lambda: request_rollback(deployment, revision, request.user))

    @extend_schema(request=None, responses={202: s.RolloutSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def undeploy(self, request: Request, pk: str) -> Response:
        """Stop every replica and the gateway; revisions and events are kept."""
        deployment = self._writable(pk)
        return _queued(lambda: request_undeploy(deployment, request.user))

    @extend_schema(responses=s.RolloutSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def rollouts(self, request: Request, pk: str) -> Response:
        """Every revision of the deployment, newest first."""
        deployment = self.get_object()
        rollouts = deployment.rollouts.select_related("deployment__model", "triggered_by").order_by("-revision")
        return paginated(self, rollouts, s.RolloutSerializer)

    @extend_schema(responses=s.RolloutEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        """The deployment's events, newest first, across rollouts and health checks."""
        deployment = self.get_object()
        events = deployment.events.select_related("rollout").order_by("-created_at", "-id")
        return paginated(self, events, s.RolloutEventSerializer)


class RolloutViewSet(ApiDefaults, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.RolloutSerializer
    queryset = Rollout.objects.none()

    def get_object(self) -> Rollout:
        rollout, _ = get_rollout_for_user(self.request.user, self.kwargs["pk"])
        return rollout

    @extend_schema(responses=s.RolloutEventSerializer(many=True), parameters=[s.EventsAfterSerializer])
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str) -> Response:
        """The rollout's events in the order they happened (?after=<event id> for only newer ones)."""
        rollout = self.get_object()
        query = s.EventsAfterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = rollout.events.select_related("rollout").order_by("created_at", "id")
        if query.validated_data.get("after") is not None:
            events = events.filter(id__gt=query.validated_data["after"])
        return paginated(self, events, s.RolloutEventSerializer)
