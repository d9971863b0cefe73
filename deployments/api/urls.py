from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from deployments.api import deploy_views, views

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("models", views.ModelViewSet, basename="model")
router.register("builds", views.BuildViewSet, basename="build")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("deployments", deploy_views.DeploymentViewSet, basename="deployment")
router.register("rollouts", deploy_views.RolloutViewSet, basename="rollout")

urlpatterns = [
    path("models/<slug:model_id>/deploy/", deploy_views.ModelDeployView.as_view(), name="model-deploy"),
    *router.urls,
]
