"""API errors as JSON a person can act on: never a stack trace.

Two shapes only (docs/api.md): `{"<field>": ["message", …]}` for refused fields (a field inside
a list is named `variations.0.replicas`), and `{"detail": "message"}` for everything else,
including what a 400 says about no single field.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

_NOT_A_FIELD = {NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY, "detail"}


class Conflict(exceptions.APIException):
    """The object's current state refuses the request; the message says what to do first."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Refused in the current state of this object."
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You do not have permission to do this.")
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        # A view that deletes says which objects to remove first; this is the fallback for one that does not.
        used_by = sorted({str(obj) for obj in exc.args[1]})[:10] if len(exc.args) > 1 else []
        log.warning("delete refused: %s", exc.args[0])
        return Response({"detail": "Still in use by: " + ", ".join(used_by) + "; remove those first."},
                        status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response({"detail": "Internal error; the server log has the details."},
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.ValidationError):
        response.data = field_errors(response.data)
    return response


def field_errors(data: Any) -> dict[str, Any]:
    """DRF's validation error data in the two documented shapes."""
    if not isinstance(data, dict):
        return {"detail": _text(data)}
    fields: dict[str, Any] = {}
    general: list[str] = []
    for key, value in data.items():
        if key in _NOT_A_FIELD:
            general.append(_text(value))
        else:
            fields.update(_flatten(str(key), value))
    if general:
        fields["detail"] = " ".join(general)
    return fields


def _flatten(key: str, value: Any) -> dict[str, list[str]]:
    """{"variations": [{}, {"replicas": ["…"]}]} as {"variations.1.replicas": ["…"]}."""
    if isinstance(value, dict):
        flat: dict[str, list[str]] = {}
        for inner, messages in value.items():
            flat.update(_flatten(key if inner in _NOT_A_FIELD else f"{key}.{inner}", messages))
        return flat
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        flat = {}
        for index, item in enumerate(value):
            if item:
                flat.update(_flatten(f"{key}.{index}", item))
        return flat
    return {key: [str(item) for item in value] if isinstance(value, list) else [str(value)]}


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_text(item) for item in value.values())
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    return str(value)
