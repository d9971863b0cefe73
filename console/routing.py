"""Every WebSocket route of every app, in one list for the ASGI router."""

from __future__ import annotations

from deployments.routing import websocket_urlpatterns as deployment_routes

websocket_urlpatterns = [*deployment_routes]
