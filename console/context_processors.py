from __future__ import annotations

from django.http import HttpRequest


def berth(request: HttpRequest) -> dict[str, object]:
    return {"berth_version": "0.1"}
