"""Live log lines of a deployment over WebSocket, as rendered rows the Logs tab appends.

`/ws/deployments/<pk>/logs/?variation=&replica=&level=&q=&request_id=[&after=<cursor>|&backlog=<s>]`
— login and project role checked in connect() (outsiders and anonymous visitors are refused with
CLOSE_FORBIDDEN) and again every ACCESS_CHECK_S, so a removed member's socket closes. Lines come
from the deployment's one reader (deployments/logs/fanout.py) through this process's hub
(deployments/logs/hub.py), which filters and renders each batch once per distinct filter and queues
the rows for every local socket; each socket sends its queue's rows, in order. First, the lines the
viewer may have missed: those after the page's
`newer` cursor, or (`backlog`, e.g. the Prediction tab's lines of one request) those of the last
seconds. Rows carry their line's key, so the page shows a line read twice only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from deployments.access import get_deployment_for_user
from deployments.backends.base import BackendError, get_backend
from deployments.consumers import CLOSE_FORBIDDEN
from deployments.logs import hub
from deployments.logs.history import PAGE_LINES, newer_page, older_page
from deployments.logs.lines import LogLine
from deployments.logs.query import LogQuery, LogQueryError, decode_cursor
from deployments.models import Deployment

log = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400  # a filter or cursor that does not parse; the page says what to fix
CLOSE_TRY_AGAIN = 1013  # fell behind, or this process's hub broke: the page reconnects
ROWS = "deployments/deployment/logs.html#log-rows"
MAX_BACKLOG_S = 600
ACCESS_CHECK_S = 10  # a removed member's socket closes within this (a query per socket; 200 viewers: 20/s)


class DeploymentLogsConsumer(AsyncWebsocketConsumer):
    viewer: hub.Viewer | None = None
    tasks: tuple[asyncio.Task[None], ...] = ()

    async def connect(self) -> None:
        allowed = await self._allowed()
        if allowed is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.deployment_pk = allowed
        params = {name: values[0] for name, values in
                  parse_qs(self.scope.get("query_string", b"").decode(errors="replace")).items()}
        try:
            self.query = LogQuery.parse(params).without_times()
            after = decode_cursor(params["after"], "after") if params.get("after") else None
        except LogQueryError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.viewer = await hub.watch(self.deployment_pk, self.query, rows)
        await self.accept()
        await self._send_missed(after, _seconds(params.get("backlog", "")))
        name = f"log viewer of deployment {self.deployment_pk}"
        self.tasks = (asyncio.create_task(self._stream(self.viewer), name=name),
                      asyncio.create_task(self._check_access(), name=f"{name}, access"))

    async def disconnect(self, code: int) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.viewer is not None:
            await hub.unwatch(self.viewer)
            self.viewer = None

    async def _stream(self, viewer: hub.Viewer) -> None:
        """Send the hub's rendered rows in order; close when they end (deployment gone, fell behind)."""
        while True:
            item = await viewer.queue.get()
            if isinstance(item, hub.End):
                log.info("deployment %s: closing a logs socket: %s", self.deployment_pk, item.value)
                await self._leave(CLOSE_FORBIDDEN if item is hub.End.GONE else CLOSE_TRY_AGAIN)
                return
            await self.send(text_data=item)

    async def _check_access(self) -> None:
        """Every ACCESS_CHECK_S: is the viewer still allowed? (a removed member's socket closes)"""
        while True:
            await asyncio.sleep(ACCESS_CHECK_S)
            if await self._allowed() is None:
                await self._leave(CLOSE_FORBIDDEN)
                return

    async def _leave(self, code: int) -> None:
        if self.viewer is not None:
            await hub.unwatch(self.viewer)
            self.viewer = None
            await self.close(code=code)

    async def _send_missed(self, after: dict[str, Any] | None, backlog_s: int) -> None:
        if after is None and not backlog_s:
            return
        try:
            lines = await self._missed(after, backlog_s)
        except BackendError as exc:
            log.warning("deployment %s: no log history: %s", self.deployment_pk, exc)
            return
        if lines:
            await self.send(text_data=rows(lines))

    @database_sync_to_async
    def _missed(self, after: dict[str, Any] | None, backlog_s: int) -> list[LogLine]:
        deployment = Deployment.objects.select_related("model").get(pk=self.deployment_pk)
        if after is not None:
            return newer_page(get_backend(), deployment, self.query, after).lines
        since = timezone.now() - timedelta(seconds=backlog_s)
        return older_page(get_backend(), deployment, replace(self.query, since=since),
                          limit=PAGE_LINES).lines

    @database_sync_to_async
    def _allowed(self) -> int | None:
        try:
            deployment, _ = get_deployment_for_user(self.scope.get("user"), self.scope["url_route"]["kwargs"]["pk"])
        except (Http404, PermissionDenied):
            return None
        return deployment.pk


def rows(lines: list[LogLine]) -> str:
    """The Logs tab's rows of these lines (the hub calls it once per batch and distinct filter)."""
    return render_to_string(ROWS, {"lines": lines})


def _seconds(text: str) -> int:
    return min(int(text), MAX_BACKLOG_S) if text.isascii() and text.isdigit() and len(text) < 6 else 0
