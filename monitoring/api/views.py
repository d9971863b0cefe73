"""GET /api/v1/deployments/<id>/metrics/: the stored metric series of a deployment or one variation.

Viewers and up read; outsiders get 404 (deployments.access). Never asks the runtime: it reads
what monitoring.tasks.scrape_metrics stored, or Prometheus when PROMETHEUS_URL is set.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_deployment_for_user
from deployments.api.base import ApiDefaults
from monitoring.api.serializers import MetricsQuerySerializer, MetricsSerializer
from monitoring.sources import series_source


class DeploymentMetricsView(ApiDefaults):
    pagination_class = None

    @extend_schema(parameters=[MetricsQuerySerializer], responses=MetricsSerializer, operation_id="deployments_metrics")
    def get(self, request: Request, pk: str) -> Response:
        deployment, _ = get_deployment_for_user(request.user, pk)
        query = MetricsQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        series = series_source().read(deployment, query.validated_data["range"], timezone.now(),
                                      query.validated_data["variation"])
        return Response({"deployment": deployment.pk, **series.to_json()})  # as MetricsSerializer documents it
