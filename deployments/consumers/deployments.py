"""Live deployment page over WebSocket: the fragments of the open tab, as htmx out-of-band swaps.

`/ws/deployments/<pk>/events/?tab=overview|configuration|events[&level=&kind=&page=][&notice=<rollout pk>…]`
— login and project role checked in connect() and again before every message (a removed
member's socket is closed). On every connect (the first one and each reconnect after a drop) the
viewer gets the tab's fragments as they are now, so nothing missed while disconnected stays
wrong on screen. Then each stored event arrives as its row (events tab, when it passes the
viewer's filters and they look at the newest page) plus the tab's fragments; `object.changed`
(status, observation, revision) re-renders the fragments; its kind "metrics" (new points stored) only
tells the Overview's charts to fetch them. The messages at the top that announce a
rollout (`notice`) are re-rendered with them, so "Undeploy started" becomes "Undeployed".
Everything is rendered from stored state (deployments/state/page.py); the runtime is never asked here.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string

from deployments.access import get_deployment_for_user
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.models import Deployment, Role, RolloutEvent
from deployments.rollouts.events import DeploymentEventMessage, events_group
from deployments.state.page import FRAGMENTS, TABS, TEMPLATE, EventQuery, notices, page_context

MAX_NOTICES = 5


class DeploymentEventsConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        allowed = await self._allowed()
        if allowed is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.deployment_pk, self.can_write = allowed
        self.tab, self.event_query, self.notices = _view(self.scope.get("query_string", b""))
        self.group = events_group(self.deployment_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send(None, whole=True)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _leave(self) -> None:
        """No longer allowed to see it: stop listening and close (once; messages already queued are dropped)."""
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=CLOSE_FORBIDDEN)

    async def deployment_event(self, event: DeploymentEventMessage) -> None:
        await self._send(event["id"])

    async def object_changed(self, event: dict) -> None:
        if event.get("kind") == "metrics":  # new metric points stored (monitoring.tasks.announce_points)
            await self._metrics_stored()
            return
        await self._send(None)

    async def _metrics_stored(self) -> None:
        """On the Overview, a marker whose arrival makes the charts fetch their new points
        (static/console/charts.js; the metrics API checks the viewer's role again)."""
        if self.tab != "overview":
            return
        if await self._allowed() is None:
            await self._leave()
            return
        await self.send(text_data='<span id="metrics-stamp" hidden hx-swap-oob="true"></span>')

    async def _send(self, event_id: int | None, whole: bool = False) -> None:
        allowed = await self._allowed() if self.group else None  # removed, or their role changed?
        if allowed is None:
            await self._leave()
            return
        self.can_write = allowed[1]
        html = await self._render(event_id, whole)
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
    def _render(self, event_id: int | None, whole: bool) -> str:
        """The tab's fragments (`whole`: the event list too, on connect) and the new event's row."""
        deployment = Deployment.objects.select_related("model__project", "current_rollout").filter(
            pk=self.deployment_pk).first()
        if deployment is None:
            return ""
        context = {**page_context(deployment, None, self.can_write, self.tab, self.event_query), "oob": True}
        parts = self._new_row(deployment, event_id) if event_id is not None and self.tab == "events" else []
        fragments = [name for name in FRAGMENTS[self.tab] if whole or name != "event-list"]
        parts += [render_to_string(f"{TEMPLATE}#{name}", context) for name in fragments]
        parts += [render_to_string(f"{TEMPLATE}#notice", {"rollout": rollout, "notice": said, "oob": True})
                  for rollout, said in notices(deployment, self.notices)]
        return "".join(parts)

    def _new_row(self, deployment: Deployment, event_id: int) -> list[str]:
        """A new event on top of the list, when the viewer looks at the newest page and it passes their filters."""
        event = RolloutEvent.objects.select_related("rollout").filter(pk=event_id, deployment=deployment).first()
        if event is None or self.event_query.page != 1 or not self.event_query.matches(event):
            return []
        row = render_to_string(f"{TEMPLATE}#event-row", {"event": event})
        parts = [f'<div hx-swap-oob="afterbegin:#event-list">{row}</div>']
        if not self.event_query.filter(deployment.events.exclude(pk=event.pk)).exists():  # "No events yet" goes
            parts.append('<p id="no-events" hx-swap-oob="delete"></p>')
        return parts


def _view(query_string: bytes) -> tuple[str, EventQuery, tuple[int, ...]]:
    """What the viewer has open: the tab, the events' filters and page (as in the page's URL), and the
    rollouts the messages at the top announce (`notice=<rollout pk>`, a few at most)."""
    query = parse_qs(query_string.decode(errors="replace"))
    params = {name: values[0] for name, values in query.items()}
    tab = params.get("tab", "")
    notices = tuple(int(pk) for pk in query.get("notice", [])[:MAX_NOTICES] if pk.isascii() and pk.isdigit() and len(pk) < 19)
    return (tab if tab in TABS else "overview"), EventQuery.parse(params), notices
