"""Live deployment page over WebSocket: events, status badge and replica counts as htmx OOB swaps.

`/ws/deployments/<pk>/events/` — login and project role checked in connect(). Each stored
event arrives as its row (prepended to the event list) plus the parts of the page it may have
changed, rendered for this viewer; `object.changed` (status, revision) re-renders those parts.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string

from deployments.access import get_deployment_for_user
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.events import DeploymentEventMessage, events_group
from deployments.models import Deployment, Role, RolloutEvent

TEMPLATE = "deployments/deployment/detail.html"
PAGE_PARTS = ("status", "replica-counts", "status-reason", "endpoint", "replicas", "rollouts")


class DeploymentEventsConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        allowed = await self._allowed()
        if allowed is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.deployment_pk, self.can_write = allowed
        self.group = events_group(self.deployment_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def deployment_event(self, event: DeploymentEventMessage) -> None:
        html = await self._render(event["id"])
        if html:
            await self.send(text_data=html)

    async def object_changed(self, event: dict) -> None:
        html = await self._render(None)
        if html:
            await self.send(text_data=html)

    @database_sync_to_async
    def _allowed(self) -> tuple[int, bool] | None:
        try:
            deployment, membership = get_deployment_for_user(self.scope.get("user"),
                                                             self.scope["url_route"]["kwargs"]["pk"])
        except (Http404, PermissionDenied):
            return None
        return deployment.pk, membership.allows(Role.DEPLOYER)

    @database_sync_to_async
    def _render(self, event_id: int | None) -> str:
        from deployments.views.deployments import page_context, rollouts_context

        deployment = Deployment.objects.select_related("model__project", "current_rollout").filter(
            pk=self.deployment_pk).first()
        if deployment is None:
            return ""
        context = {**page_context(deployment, None, self.can_write), **rollouts_context(deployment), "oob": True}
        parts = []
        if event_id is not None:
            event = RolloutEvent.objects.select_related("rollout").filter(pk=event_id, deployment=deployment).first()
            if event is not None:
                row = render_to_string(f"{TEMPLATE}#event-row", {"event": event})
                parts.append(f'<div hx-swap-oob="afterbegin:#event-list">{row}</div>')
        parts += [render_to_string(f"{TEMPLATE}#{part}", context) for part in PAGE_PARTS]
        return "".join(parts)
