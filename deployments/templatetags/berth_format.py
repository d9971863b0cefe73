"""Filters the console's pages share: times people can place, and event text with its links clickable."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from deployments.models import DeploymentStatus
from deployments.state.page import EventQuery

register = template.Library()

# http(s) only: the href is the URL as written, so no javascript:, data: or relative link can come of it.
URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""  # punctuation that ends a sentence rather than the URL


@register.filter
def when(value: datetime | None) -> str:
    """A <time>: the time of day when it is today here, else the date too; the full time and zone on hover."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    shown = f"{local:%H:%M:%S}" if local.date() == timezone.localdate() else f"{local:%Y-%m-%d %H:%M:%S}"
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(),
                       f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}", shown)


@register.filter
def linkify(text: str | None) -> SafeString:
    """Text escaped, its line breaks kept, and each http(s) URL in it a link (built from the escaped URL)."""
    parts, start = [], 0
    source = str(text or "").replace("\r\n", "\n")
    for match in URL.finditer(source):
        url = match.group(0).rstrip(TRAILING)
        parts += [escape(source[start:match.start()]), _link(url)]
        start = match.start() + len(url)
    parts.append(escape(source[start:]))
    # Every part was escaped above, so joining them and adding <br> for each newline adds no user markup.
    return mark_safe("".join(parts).replace("\n", "<br>"))  # noqa: S308


def _link(url: str) -> SafeString:
    return format_html('<a href="{}" rel="noopener noreferrer nofollow">{}</a>', url, url)


@register.filter
def page_query(query: EventQuery, page: int) -> str:
    """The events tab's query string for another page, keeping its filters."""
    return query.query_string(page=int(page))


@register.filter
def work_rollout(message: object) -> int | None:
    """The rollout a flashed message announces (extra tag `rollout-<pk>`), so the live page can update it."""
    for tag in str(getattr(message, "extra_tags", "") or "").split():
        if tag.startswith("rollout-") and tag[8:].isdigit():
            return int(tag[8:])
    return None


@register.filter
def status_label(status: str) -> str:
    """A deployment status as people read it ("degraded" -> "Degraded")."""
    try:
        return str(DeploymentStatus(status).label)
    except ValueError:
        return status
