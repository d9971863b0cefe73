"""`{% csp_style_nonce %}`: a nonce that lets this one response's own script add <style> elements.

CodeMirror (the Prediction tab's JSON editor) writes its styles into a <style> element it creates, which
`style-src 'self'` refuses. A page that uses the tag gets a fresh random nonce, the script passes it to
the editor (EditorView.cspNonce), and console.middleware.ContentSecurityPolicyMiddleware adds it to
that response's style-src. Every other page keeps the constant policy; nothing inline is allowed anywhere.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import template

register = template.Library()

NONCE_ATTRIBUTE = "csp_style_nonce"


@register.simple_tag(takes_context=True)
def csp_style_nonce(context: dict[str, Any]) -> str:
    request = context["request"]
    nonce = getattr(request, NONCE_ATTRIBUTE, "")
    if not nonce:
        nonce = secrets.token_urlsafe(18)
        setattr(request, NONCE_ATTRIBUTE, nonce)
    return nonce
