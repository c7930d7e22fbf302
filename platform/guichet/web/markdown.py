"""Tenant-editable text: Markdown rendered to HTML, then sanitized (never raw HTML).

Tenants share one browser origin, so a script slipped into one tenant's text would reach every
tenant: only a small set of tags survives, links get ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

from functools import lru_cache

import markdown as _markdown
import nh3
from markupsafe import Markup

__all__ = ["render_markdown"]

_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "code",
    "pre",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}}


@lru_cache(maxsize=2048)
def _render(text: str, shift: int) -> str:
    html = _markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    if shift:
        for level in range(4, 0, -1):
            new = min(level + shift, 6)
            html = html.replace(f"<h{level}>", f"<h{new}>").replace(f"</h{level}>", f"</h{new}>")
    return nh3.clean(
        html,
        tags=_TAGS | {"h5", "h6"},
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


def render_markdown(text: str | None, shift_headings: int = 0) -> Markup:
    """Sanitized HTML of ``text``; ``shift_headings`` moves ## to ### etc. inside a page."""
    if not text:
        return Markup("")
    return Markup(_render(text, shift_headings))  # noqa: S704 (sanitized by nh3 above)
