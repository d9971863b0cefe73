"""GET /api/v1/deployments/<id>/logs/: a page of a deployment's retained log lines, newest page first.

Viewers and up read; outsiders get 404 (deployments.access). Pages go back with `before=<older>`;
`after=<newer>` returns what was written since a page (the CLI's --follow polls it). Filters are
those of the Logs tab (deployments.logs.query), applied on the server.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_deployment_for_user
from deployments.api.base import ApiDefaults
from deployments.backends.base import BackendError, get_backend
from deployments.logs.history import MAX_PAGE_LINES, PAGE_LINES, newer_page, older_page
from deployments.logs.lines import LEVELS
from deployments.logs.query import NAME_PATTERN, REQUEST_ID_PATTERN, LogQuery, LogQueryError, decode_cursor

TYPED = ("since", "until", "limit")


class LogsQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False,
                                      help_text="Only lines at or after this time (ISO 8601; UTC when no zone).")
    until = serializers.DateTimeField(required=False,
                                      help_text="Only lines at or before this time (ISO 8601; UTC when no zone).")
    variation = serializers.RegexField(NAME_PATTERN, required=False, allow_blank=True, max_length=63,
                                       help_text="Only this variation's replicas.")
    replica = serializers.RegexField(NAME_PATTERN, required=False, allow_blank=True, max_length=63,
                                     help_text='Only this replica (its name), or "gateway".')
    level = serializers.ChoiceField(choices=["", *LEVELS], required=False, allow_blank=True,
                                    help_text="Only this level and worse.")
    q = serializers.CharField(required=False, allow_blank=True, max_length=200,
                              help_text="Only lines whose readable text contains this (any case).")
    request_id = serializers.RegexField(REQUEST_ID_PATTERN, required=False, allow_blank=True, max_length=200,
                                        help_text="Only lines written while serving this request.")
    before = serializers.CharField(required=False, allow_blank=True, max_length=8000,
                                   help_text="A page's `older` cursor: the lines before that page.")
    after = serializers.CharField(required=False, allow_blank=True, max_length=8000,
                                  help_text="A page's `newer` cursor: the lines written since (oldest first).")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_LINES, default=PAGE_LINES,
                                     help_text=f"Lines per page (default {PAGE_LINES}).")


class LogLineSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Unique per line: its replica, file and offset.")
    time = serializers.DateTimeField(help_text="When it was written (plain-text lines: when read, or the "
                                               "time of the timed line after them).")
    level = serializers.ChoiceField(choices=list(LEVELS))
    event = serializers.CharField(help_text='The model server\'s event name ("request", "log", …); "" for plain text.')
    replica = serializers.CharField(help_text='The replica that wrote it, or "gateway".')
    variation = serializers.CharField(help_text='"" for the gateway.')
    request_id = serializers.CharField(help_text="The first of request_ids, or \"\".")
    request_ids = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()
    details = serializers.DictField(help_text="Every other field the line carries (status, latency_ms, pid, …).")
    text = serializers.CharField(help_text="The line as the Logs tab shows it.")
    structured = serializers.BooleanField(help_text="False for a plain-text line (e.g. a print).")


class LogPageSerializer(serializers.Serializer):
    deployment = serializers.IntegerField()
    lines = LogLineSerializer(many=True, help_text="Oldest first.")
    older = serializers.CharField(allow_null=True, help_text="`before` for the previous page; null: nothing older.")
    newer = serializers.CharField(help_text="`after` for the lines written after this page.")


class LogsUnavailable(APIException):
    status_code = 503
    default_detail = "The logs could not be read now; try again shortly."


class DeploymentLogsView(ApiDefaults):
    pagination_class = None

    @extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH), LogsQuerySerializer],
                   operation_id="deployments_logs", responses=LogPageSerializer)
    def get(self, request: Request, pk: int) -> Response:
        deployment, _ = get_deployment_for_user(request.user, pk)
        blank = [name for name in TYPED if name in request.query_params and not request.query_params[name].strip()]
        if blank:  # DRF would take an empty typed parameter as left out; the schema says it is a time or number
            raise ValidationError({name: ["empty; give a value or leave the parameter out"] for name in blank})
        params = LogsQuerySerializer(data=request.query_params)
        if not params.is_valid():
            raise ValidationError(params.errors)
        data: dict[str, Any] = params.validated_data
        try:
            times = {name: data[name].isoformat() for name in ("since", "until") if data.get(name)}
            query = LogQuery.parse({name: data.get(name, "") for name in
                                    ("variation", "replica", "level", "q", "request_id")} | times)
            if data.get("before") and data.get("after"):
                raise LogQueryError({"after": "give before or after, not both"})
            before = decode_cursor(data["before"], "before") if data.get("before") else None
            after = decode_cursor(data["after"], "after") if data.get("after") else None
        except LogQueryError as exc:
            raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None
        try:
            page = (newer_page(get_backend(), deployment, query, after, data["limit"]) if after is not None
                    else older_page(get_backend(), deployment, query, before, data["limit"]))
        except BackendError as exc:
            raise LogsUnavailable(str(exc)) from None
        return Response({"deployment": deployment.pk, "lines": [line.to_json() for line in page.lines],
                         "older": page.older, "newer": page.newer})
