"""Personal API tokens: create (secret shown once), list, revoke after a confirmation.

Creating is post/redirect/get: the POST issues the token and keeps its secret in the session
for exactly one GET, which shows it and forgets it, so a reload never creates a second token
nor shows the secret again.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from console.models import LIFETIMES, ApiToken
from console.typing import AuthenticatedHttpRequest

NEW_SECRET = "new_api_token"  # noqa: S105 - a session key: the secret of the token just created, until the next GET


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. laptop CLI or CI.")
    expires = forms.ChoiceField(choices=[(key, label) for key, (label, _) in LIFETIMES.items()], initial="never",
                                label="Expires", help_text="After this, the API refuses the token.")


@login_required
@never_cache  # the page that shows a secret is never kept by the browser or a proxy
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, lifetime = LIFETIMES[form.cleaned_data["expires"]]
        token, raw = ApiToken.issue(request.user, form.cleaned_data["name"], lifetime)
        request.session[NEW_SECRET] = {"pk": token.pk, "secret": raw}
        messages.success(request, f"Token {token.name} created. Copy it now: it will not be shown again.")
        return redirect("tokens")
    tokens = ApiToken.objects.filter(user=request.user)
    new = request.session.pop(NEW_SECRET, None)
    return render(request, "console/tokens.html", {"form": form, "tokens": tokens, "new": new})


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm, naming the token; POST revokes it."""
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if request.method == "GET":
        return render(request, "console/token_revoke.html", {"token": token})
    token.revoke()
    messages.success(request, f"Token {token.name} revoked; requests using it are now refused.")
    return redirect("tokens")
