"""The OpenAPI schema says which errors each operation answers, and in which shape.

Every operation may answer 401 (no or a revoked token); operations with a path parameter 404
(no such object in your projects); writes 403 (your role is too low) and 400 (bad input);
reads with query parameters 400 too (a bad filter, limit or offset). A view declares the rest,
e.g. `409: CONFLICT`. Field errors are `{"<field>": ["message", …]}`, every other error is
`{"detail": "message"}` (console/api_errors.py makes sure of it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, for people."}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Each refused field (`variations.0.replicas` inside a list) with its messages; `detail` says "
                   "what concerns no single field.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

# For views to declare with `responses={…, 409: CONFLICT}`; the body is filled in below.
CONFLICT = OpenApiResponse(description="Refused in the object's current state; `detail` says what to do first.")

_DESCRIPTIONS = {
    "400": "Bad input: the refused fields are named.",
    "401": "No API token, or an unknown or revoked one.",
    "403": "Your role in the project does not allow this.",
    "404": "No such object in your projects.",
}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str,
                      registry: Any) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        codes = {"401"}
        if any(p["in"] == "path" for p in parameters):
            codes.add("404")
        if method.upper() in _WRITES:
            codes.add("403")
        if "requestBody" in operation or method.upper() in ("POST", "PUT", "PATCH") \
                or any(p["in"] == "query" for p in parameters):
            codes.add("400")
        for parameter in parameters:  # a filter left empty (`?status=`) filters nothing, as on the pages
            if parameter["in"] == "query" and "enum" in parameter["schema"]:
                parameter["schema"]["enum"] = ["", *parameter["schema"]["enum"]]
        responses = operation["responses"]
        for code in codes:
            responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:
                schema = self._component("FieldErrors" if code == "400" else "Error",
                                         FIELD_ERRORS if code == "400" else ERROR)
                response["content"] = {"application/json": {"schema": schema}}
        return operation

    def _component(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        self.registry.register_on_missing(component)
        return component.ref
