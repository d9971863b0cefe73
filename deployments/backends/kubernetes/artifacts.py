"""How a pod gets its build: a URL on the console and a token good for that one build.

A replica's init container downloads `<BERTH_CONSOLE_INTERNAL_URL>/api/v1/builds/<build_id>/artifact/`
with `Authorization: Bearer <token>` (docker/fetch_build.py). The token is the build ID signed
with the console's SECRET_KEY under a salt of its own, so it opens exactly one build's archive:
a model's code that reads its own pod's token learns nothing it did not already have. It is
deterministic (no timestamp), so re-applying a Secret does not change it and restart pods.

deployments/api/artifacts.py answers this URL; it checks the token with `build_of_token`.
"""

from __future__ import annotations

from django.core import signing

SALT = "berth.kubernetes.build-artifact"


def artifact_url(console_url: str, build_id: str) -> str:
    return f"{console_url.rstrip('/')}/api/v1/builds/{build_id}/artifact/"


def artifact_token(build_id: str) -> str:
    return signing.dumps(build_id, salt=SALT)


def build_of_token(token: str) -> str:
    """The build ID a token was made for; `signing.BadSignature` when it was not made by this console."""
    return str(signing.loads(token, salt=SALT))
