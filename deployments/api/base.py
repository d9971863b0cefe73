"""What every view under /api/v1/ shares.

JSON request bodies (a build upload, the one file, is multipart), pagination that refuses a bad
`limit` or `offset`, the errors each operation answers written into the schema, and a path
naming no object (one with a NUL character, which PostgreSQL cannot even compare) answered 404.
Views list this class first, so it wins over DRF's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.views import APIView

from deployments.api.pagination import Pagination
from deployments.api.schema import AutoSchema
from deployments.api.strict import NUL


class ApiDefaults(APIView):
    parser_classes: Sequence[type[BaseParser]] = (JSONParser,)
    pagination_class: type[BasePagination] | None = Pagination
    schema: ViewInspector | None = AutoSchema()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # who is asking comes first: 401 before 404
        if any(NUL in str(value) for value in kwargs.values()):
            raise NotFound("No such object in your projects.")
