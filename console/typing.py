"""Request types for views behind @login_required, so `request.user` is a User to the type checker."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

AnyUser = User | AnonymousUser


class AuthenticatedHttpRequest(HttpRequest):
    user: User
