"""`Authorization: Bearer <token>` (or `Token <token>`) for the REST API."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from console.models import ApiToken, hash_token


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[object, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Authorization: Bearer <token>'.")
        token = ApiToken.objects.active().select_related("user").filter(token_hash=hash_token(header[1])).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(
                f"This API token is unknown or revoked; create one under Settings → API tokens ({_tokens_page(request)}).")
        if token.is_expired():
            raise exceptions.AuthenticationFailed(expired_message(token, request))
        token.note_use()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="berth"'


def expired_message(token: ApiToken, request: Request) -> str:
    when = timezone.localtime(token.expires_at or timezone.now()).strftime("%Y-%m-%d %H:%M %Z")
    return f"This token expired on {when}; create a new one under Settings → API tokens ({_tokens_page(request)})."


def _tokens_page(request: Request) -> str:
    return request.build_absolute_uri(reverse("tokens"))


class TokenScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema (and the docs' Authorize button) how to send a token."""

    target_class = TokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token from Settings → API tokens (starts with berth_)."}
