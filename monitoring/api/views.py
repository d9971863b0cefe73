"""GET /api/v1/deployments/<id>/metrics/: the stored metric series of a deployment or one variation.

Viewers and up read; outsiders get 404 (deployments.access). Never asks the runtime: it reads
what monitoring.tasks.scrape_metrics stored, or Prometheus when PROMETHEUS_URL is set.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_deployment_for_user
from deployments.api.base import ApiDefaults
from deployments.api.schema import ERROR, AutoSchema
from monitoring.api.serializers import MetricsQuerySerializer, MetricsSerializer
from monitoring.sources import SourceUnavailable, series_source


class MetricsSchema(AutoSchema):
    """The shared schema, plus the 503 answered when PROMETHEUS_URL is set and Prometheus does not answer."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            operation["responses"]["503"] = {
                "description": "PROMETHEUS_URL is set and that Prometheus did not answer; `detail` says what happened.",
                "content": {"application/json": {"schema": self._component("Error", ERROR)}}}
        return operation


class ServiceUnavailable(APIException):
    status_code = 503
    default_detail = "The metrics could not be read now; try again shortly."


class DeploymentMetricsView(ApiDefaults):
    pagination_class = None
    schema = MetricsSchema()

    @extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH), MetricsQuerySerializer],
                   operation_id="deployments_metrics", responses=MetricsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        deployment, _ = get_deployment_for_user(request.user, pk)
        query = MetricsQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        try:
            series = series_source().read(deployment, query.validated_data["range"], timezone.now(),
                                          query.validated_data["variation"])
        except SourceUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from None
        return Response({"deployment": deployment.pk, **series.to_json()})  # as MetricsSerializer documents it
