from __future__ import annotations

from django.urls import path

from deployments.consumers.builds import ModelBuildsConsumer
from deployments.consumers.deployments import DeploymentEventsConsumer
from deployments.consumers.logs import DeploymentLogsConsumer

websocket_urlpatterns = [
    path("ws/models/<slug:model_id>/builds/", ModelBuildsConsumer.as_asgi()),
    path("ws/deployments/<int:pk>/events/", DeploymentEventsConsumer.as_asgi()),
    path("ws/deployments/<int:pk>/logs/", DeploymentLogsConsumer.as_asgi()),
]
