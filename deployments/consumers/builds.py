"""Live build status over WebSocket: each viewer gets the fragment of the page it has open, as an htmx OOB swap.

`/ws/models/<model_id>/builds/?page=list` (the model's build table) or `?page=detail&build=<build_id>`
(one build's page: only that build's changes are sent).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string

from deployments.access import get_model_for_user
from deployments.builds.live import builds_group
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Build, Role

BUILD_FRAGMENTS = {"list": "deployments/model_detail.html#build-row",
                   "detail": "deployments/build_detail.html#build-body"}


class ModelBuildsConsumer(AsyncWebsocketConsumer):
    """`/ws/models/<model_id>/builds/`: pushes a build's row and detail body when it changes."""

    group: str | None = None

    async def connect(self) -> None:
        model_pk = await self._allowed_model_pk()
        if model_pk is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.model_pk, self.can_deploy = model_pk
        query = parse_qs(self.scope.get("query_string", b"").decode(errors="replace"))
        page = query.get("page", [""])[0]
        self.fragment = BUILD_FRAGMENTS.get(page, BUILD_FRAGMENTS["list"])
        self.only_build = query.get("build", [""])[0] if page == "detail" else ""
        self.group = builds_group(self.model_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _leave(self) -> None:
        """No longer allowed to see it: stop listening and close (once; messages already queued are dropped)."""
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=CLOSE_FORBIDDEN)

    async def object_changed(self, event: dict) -> None:
        if self.only_build and event["pk"] != self.only_build:  # the page shows another build
            return
        allowed = await self._allowed_model_pk() if self.group else None  # removed, or their role changed?
        if allowed is None:
            await self._leave()
            return
        self.can_deploy = allowed[1]
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
        return render_to_string(self.fragment, context)
