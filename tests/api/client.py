"""Talking to the REST API the way a script does: a bearer token, JSON in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.fixtures.people import token_for


def api_as(user: User | None) -> APIClient:
    """A client sending `user`'s API token, or none at all for an anonymous caller."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


def stored_builds() -> set[Path]:
    """What is on disk under DATA_DIR/builds: a rejected upload must leave this unchanged."""
    root = settings.DATA_DIR / "builds"
    return set(root.iterdir()) if root.exists() else set()


class JsonAnswer(Protocol):
    def json(self) -> Any: ...


def results(response: JsonAnswer) -> list[dict]:
    """The rows of a list answer, paginated or not."""
    data = response.json()
    return data["results"] if isinstance(data, dict) and "results" in data else data
