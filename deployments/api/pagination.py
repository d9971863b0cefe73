"""Every API list is paginated the same way: `?limit=&offset=`, answered as {"count", "next", "previous", "results"}.

Out-of-range or non-numeric values are refused with 400 naming the parameter, never clamped or
ignored: a script asking for `limit=5000` learns the maximum instead of silently getting less.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2_147_483_647
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() would also take "١٢", " 12" or "+12"


def _whole_number(request: Request, name: str, default: int, low: int, high: int) -> int:
    sent = request.query_params.getlist(name)
    if not sent:
        return default
    raw = sent[0]
    # A longer number than `high` is out of range before int() (which refuses over 4300 digits) sees it.
    if len(sent) > 1 or _DIGITS.fullmatch(raw) is None or len(raw.lstrip("0")) > len(str(high)) \
            or not low <= int(raw) <= high:
        raise ValidationError({name: [f"Give {name} once, as a whole number from {low} to {high}."]})
    return int(raw)


class Pagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def paginate_queryset(self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request,
                          view: APIView | None = None) -> list[Any] | None:
        # Both are read before DRF's own parsing, which would take "abc" or "-1" as the default
        # and a huge number as it is (the database then fails on it).
        _whole_number(request, self.limit_query_param, DEFAULT_LIMIT, 1, MAX_LIMIT)
        _whole_number(request, self.offset_query_param, 0, 0, MAX_OFFSET)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                  self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters


def paginated(view: GenericAPIView, queryset: QuerySet, serializer_class: type[serializers.BaseSerializer]
              ) -> Response:
    """An action's list, answered like every other list."""
    page = view.paginate_queryset(queryset)
    return view.get_paginated_response(serializer_class(page, many=True).data)
