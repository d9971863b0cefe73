"""docs/*.md as pages of the console (the upload form links the bundle format, docs/builds.md).

Rendered with markdown-it-py, raw HTML in the Markdown escaped (`html` off); links between
docs (`runtime.md#security-model`) go to their page here, and screenshots to the view that
serves docs/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

DOC_NAME = re.compile(r"[a-z][a-z0-9-]{0,40}")
SCREENSHOT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,80}\.png")
DOC_LINK = re.compile(r"(?P<name>[a-z][a-z0-9-]{0,40})\.md(?P<anchor>#[\w-]*)?")


def docs_dir() -> Path:
    return settings.BASE_DIR / "docs"


def doc_path(name: str) -> Path | None:
    """The Markdown file of docs page `name` (e.g. "builds"), or None when there is no such page."""
    path = docs_dir() / f"{name}.md"
    return path if DOC_NAME.fullmatch(name) and path.is_file() else None


def screenshot_path(name: str) -> Path | None:
    path = docs_dir() / "screenshots" / name
    return path if SCREENSHOT_NAME.fullmatch(name) and path.is_file() else None


def doc_html(path: Path) -> SafeString:
    """The page's HTML (raw HTML in the Markdown is escaped, not passed through)."""
    text = path.read_text(encoding="utf-8")
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    for token in tokens:
        for child in token.children or []:
            _relink(child)
    return mark_safe(markdown.renderer.render(tokens, markdown.options, {}))  # noqa: S308 - html is off


def _relink(token: object) -> None:
    """Links to another doc go to its console page; images in screenshots/ to the screenshot view."""
    attrs = getattr(token, "attrs", None)
    if not attrs:
        return
    key = "href" if "href" in attrs else "src" if "src" in attrs else None
    if key is None:
        return
    target = str(attrs[key])
    doc = DOC_LINK.fullmatch(target)
    if doc:
        attrs[key] = f"../{doc['name']}/{doc['anchor'] or ''}"
    elif target.startswith("screenshots/"):
        attrs[key] = f"../{target}"
