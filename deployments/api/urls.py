from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from deployments.api import artifacts, cases, deploy_views, endpoint_keys, views
from deployments.api.logs import DeploymentLogsView
from monitoring.api.views import DeploymentMetricsView

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("models", views.ModelViewSet, basename="model")
router.register("builds", views.BuildViewSet, basename="build")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("deployments", deploy_views.DeploymentViewSet, basename="deployment")
router.register("rollouts", deploy_views.RolloutViewSet, basename="rollout")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def no_such_endpoint(request: Request, rest: str) -> Response:
    """Any other path under /api/v1/ (e.g. `/projects/a.b/`, where no slug has a dot): JSON, like every API answer."""
    raise NotFound("No such API endpoint; see /api/docs/.")


urlpatterns = [
    path("builds/<uuid:build_id>/artifact/", artifacts.build_artifact, name="build-artifact"),
    path("models/<slug:model_id>/deploy/", deploy_views.ModelDeployView.as_view(), name="model-deploy"),
    path("deployments/<int:pk>/metrics/", DeploymentMetricsView.as_view(), name="deployment-metrics"),
    path("deployments/<int:pk>/logs/", DeploymentLogsView.as_view(), name="deployment-logs"),
    path("deployments/<int:pk>/cases/", cases.DeploymentCasesView.as_view(), name="deployment-cases"),
    path("deployments/<int:pk>/cases/run/", cases.DeploymentCasesRunView.as_view(), name="deployment-cases-run"),
    path("deployments/<int:pk>/cases/<int:case_pk>/", cases.DeploymentCaseView.as_view(), name="deployment-case"),
    path("projects/<slug:slug>/endpoint-keys/", endpoint_keys.ProjectEndpointKeysView.as_view(),
         name="project-endpoint-keys"),
    path("projects/<slug:slug>/endpoint-keys/<int:key_id>/", endpoint_keys.ProjectEndpointKeyView.as_view(),
         name="project-endpoint-key"),
    *router.urls,
    # Last, and only for paths ending in "/": one without it is still redirected there (APPEND_SLASH) first.
    # [\s\S], not ".": a path with a newline in it (`/invitations/a%0A.b/accept/`) is still an API path, answered in JSON.
    re_path(r"^(?P<rest>[\s\S]*)/$", no_such_endpoint),
]
