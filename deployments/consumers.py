"""Live build status over WebSocket: each viewer gets rows rendered for them, as htmx OOB swaps."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string

from deployments.access import get_model_for_user
from deployments.live_builds import builds_group
from deployments.models import Build, Role

CLOSE_FORBIDDEN = 4403


class ModelBuildsConsumer(AsyncWebsocketConsumer):
    """`/ws/models/<model_id>/builds/`: pushes a build's row and detail body when it changes."""

    group: str | None = None

    async def connect(self) -> None:
        model_pk = await self._allowed_model_pk()
        if model_pk is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.model_pk, self.can_deploy = model_pk
        self.group = builds_group(self.model_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def object_changed(self, event: dict) -> None:
        html = await self._render(event["pk"])
        if html:
            await self.send(text_data=html)

    @database_sync_to_async
    def _allowed_model_pk(self) -> tuple[int, bool] | None:
        user = self.scope.get("user")
        try:
            model, membership = get_model_for_user(user, self.scope["url_route"]["kwargs"]["model_id"])
        except (Http404, PermissionDenied):
            return None
        return model.pk, membership.allows(Role.DEPLOYER)

    @database_sync_to_async
    def _render(self, build_id: str) -> str:
        build = Build.objects.select_related("model", "created_by").filter(
            build_id=build_id, model_id=self.model_pk).first()
        if build is None:
            return ""
        context = {"build": build, "model": build.model, "oob": True, "can_deploy": self.can_deploy}
        return (render_to_string("deployments/model_detail.html#build-row", context)
                + render_to_string("deployments/build_detail.html#build-body", context))
