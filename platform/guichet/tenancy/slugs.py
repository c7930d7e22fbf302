"""Tenant slugs: lowercase letters, digits and hyphens, never one of the platform's own segments."""

from __future__ import annotations

import re

__all__ = ["RESERVED_SLUGS", "slug_problem"]

RESERVED_SLUGS = frozenset(
    {
        "operator",
        "static",
        "healthz",
        "readyz",
        "metrics",
        "api",
        "admin",
        "favicon.ico",
        "robots.txt",
        "outbox",
        "sandbox",
        "payments",
        "assets",
        "media",
        "docs",
        "schema",
        "login",
        "logout",
        "www",
        "guichet",
        "platform",
        "_",
        "well-known",
        ".well-known",
    }
)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot name a tenant, or None when it can."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        return (
            "a slug is 1 to 63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or a digit"
        )
    if "--" in slug:
        return "a slug has no two hyphens in a row"
    if slug in RESERVED_SLUGS:
        return f"'{slug}' is reserved by the platform"
    return None
