"""Security headers on every response, errors included (a ``before_send`` hook)."""

from __future__ import annotations

import uuid

from litestar.types import Message, Scope

from guichet.web.sessions import SESSION_COOKIE

__all__ = ["BANK_PAGE_POLICY", "CONTENT_SECURITY_POLICY", "security_headers_hook"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; media-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# « Paiement sécurisé » posts its form to the bank's own site (and the bank goes on to a card
# issuer's 3-D Secure pages): ``form-action 'self'`` made the browser refuse to send it.
BANK_PAGE_POLICY = CONTENT_SECURITY_POLICY.replace(
    "form-action 'self'", "form-action 'self' https:"
)

_BASE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_CACHE_HEADERS = {b"cache-control", b"pragma", b"expires"}
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


_SESSION_COOKIE = SESSION_COOKIE.encode() + b"="


def _has_session(scope: Scope) -> bool:
    return any(
        name == b"cookie" and _SESSION_COOKIE in value for name, value in scope.get("headers", [])
    )


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/html")
        for name, value in headers
    )


def security_headers_hook(*, behind_tls: bool = False):
    """A Litestar ``before_send`` hook adding the headers to every response.

    ``before_send`` wraps the app's ``send`` at the very entry, so it also sees responses made by
    Litestar's own outer layers (a refused CSRF token, a route that does not exist), which an
    ordinary middleware never sees.
    """

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        for name, value in _BASE_HEADERS:
            if name not in present:
                headers.append((name, value))
        if (behind_tls or scope.get("scheme") == "https") and _HSTS[0] not in present:
            headers.append(_HSTS)
        if _has_session(scope) and _is_html(headers):
            # A signed-in person's pages, or a visitor's half-filled wizard: never stored by
            # the browser or a proxy (on a shared computer, the back button or the disk cache
            # must not show them to the next person). Style sheets and logos stay cacheable.
            headers = [(n, v) for n, v in headers if n.lower() not in _CACHE_HEADERS]
            headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
        if b"x-request-id" not in present:
            request_id = scope.get("state", {}).get("request_id") or uuid.uuid4().hex
            headers.append((b"x-request-id", request_id.encode()))
        message["headers"] = headers

    return hook
