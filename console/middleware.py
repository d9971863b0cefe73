from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers


class VaryOnHtmxMiddleware:
    """Full pages and htmx fragments share URLs, so caches must key on HX-Request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY on every response that has none of its own.

    Ours rather than django-csp: the policy is one constant (no hashes, as nothing is inline) for
    every page, which these lines do without another dependency and settings schema. The one
    exception: a page whose template asked for `{% csp_style_nonce %}` (console/templatetags/csp.py)
    lets its own script add <style> elements carrying that response's random nonce.
    Django 6.0 has this built in (SECURE_CSP); switch to it on that upgrade.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy: str = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        nonce = getattr(request, "csp_style_nonce", "")
        policy = self.policy.replace("style-src 'self'", f"style-src 'self' 'nonce-{nonce}'") if nonce else self.policy
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None,
                     credentials: dict | None) -> HttpResponse:
    """The answer to a login from a locked-out username and address (axes' AXES_LOCKOUT_CALLABLE).

    Says when to try again: the lockout ends a cool-off after the last counted failure (attempts
    refused during the lockout don't count, settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT).
    """
    from axes.helpers import get_client_username, get_cool_off
    from axes.models import AccessAttempt

    username = get_client_username(request, credentials) or ""
    cool_off = get_cool_off(request) or timedelta(0)
    last_failure = AccessAttempt.objects.filter(
        username=username, ip_address=getattr(request, "axes_ip_address", None),
    ).aggregate(last=Max("attempt_time"))["last"] or timezone.now()
    retry_at = last_failure + cool_off
    wait_s = max(0, math.ceil((retry_at - timezone.now()).total_seconds()))
    response = render(request, "registration/locked_out.html", {
        "username": username, "failure_limit": settings.AXES_FAILURE_LIMIT,
        "retry_at": retry_at, "wait_minutes": max(1, math.ceil(wait_s / 60)),
    }, status=429)
    response["Retry-After"] = str(wait_s)
    return response
