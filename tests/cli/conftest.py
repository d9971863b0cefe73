"""What the CLI's deploy tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments.models import Deployment


@pytest.fixture
def stop_what_was_deployed(db: None) -> Iterator[None]:
    """Stop every replica and gateway a test deployed for real, once it is done."""
    yield
    from deployments.backends.base import get_backend

    for deployment in Deployment.objects.all():
        get_backend().delete(deployment)
