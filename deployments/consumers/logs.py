"""Live log lines of a deployment over WebSocket, as rendered rows the Logs tab appends.

`/ws/deployments/<pk>/logs/?variation=&replica=&level=&q=&request_id=[&after=<cursor>|&backlog=<s>]`
— login and project role checked in connect() (outsiders and anonymous visitors are refused with
CLOSE_FORBIDDEN) and again every ACCESS_CHECK_S, so a removed member's socket closes. Lines come
from the deployment's one reader (deployments/logs/fanout.py) through the group; each socket
filters them for its viewer. First, the lines the viewer may have missed: those after the page's
`newer` cursor, or (`backlog`, e.g. the Prediction tab's lines of one request) those of the last
seconds. Rows carry their line's key, so the page shows a line read twice only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
from deployments.logs import fanout
from deployments.logs.history import PAGE_LINES, newer_page, older_page
from deployments.logs.lines import LogLine
from deployments.logs.query import LogQuery, LogQueryError, decode_cursor
from deployments.models import Deployment

log = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400  # a filter or cursor that does not parse; the page says what to fix
ROWS = "deployments/deployment/logs.html#log-rows"
MAX_BACKLOG_S = 600
ACCESS_CHECK_S = 10  # a removed member's socket closes within this (a query per socket; 200 viewers: 20/s)


class DeploymentLogsConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    keeper: asyncio.Task[None] | None = None

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
        self.group = fanout.logs_group(self.deployment_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.redis = fanout.client()
        await self._send_missed(after, _seconds(params.get("backlog", "")))
        self.keeper = asyncio.create_task(self._keep(), name=f"log viewer of deployment {self.deployment_pk}")

    async def disconnect(self, code: int) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.keeper
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            with contextlib.suppress(Exception):  # the entry expires by itself if Redis is away
                await fanout.stop_watching(self.redis, self.deployment_pk, self.channel_name)
            await self.redis.aclose()
            self.group = None

    async def logs_lines(self, event: fanout.LogLinesMessage) -> None:
        lines = [line for line in map(LogLine.from_json, event["lines"]) if self.query.matches(line)]
        if lines:
            await self.send(text_data=render_to_string(ROWS, {"lines": lines}))

    async def logs_gone(self, event: fanout.LogsGoneMessage) -> None:
        await self._leave()

    async def _keep(self) -> None:
        """Every third of the reader TTL: still watching, and a reader is running; every ACCESS_CHECK_S:
        still allowed?"""
        checked = time.monotonic()
        while True:
            try:
                await fanout.keep_watching(self.redis, self.deployment_pk, self.channel_name)
            except Exception:  # Redis away for a moment: lines pause, the next tick tries again
                log.exception("deployment %s: the log viewer's keeper could not reach Redis", self.deployment_pk)
            await asyncio.sleep(fanout.reader_ttl_s() / 3)
            if time.monotonic() - checked >= ACCESS_CHECK_S:
                checked = time.monotonic()
                if await self._allowed() is None:
                    await self._leave()
                    return

    async def _leave(self) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=CLOSE_FORBIDDEN)

    async def _send_missed(self, after: dict[str, Any] | None, backlog_s: int) -> None:
        if after is None and not backlog_s:
            return
        try:
            lines = await self._missed(after, backlog_s)
        except BackendError as exc:
            log.warning("deployment %s: no log history: %s", self.deployment_pk, exc)
            return
        if lines:
            await self.send(text_data=render_to_string(ROWS, {"lines": lines}))

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


def _seconds(text: str) -> int:
    return min(int(text), MAX_BACKLOG_S) if text.isascii() and text.isdigit() and len(text) < 6 else 0
