"""The headers every response must carry, errors included."""

from __future__ import annotations

from typing import Any


def assert_security_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    if csp.startswith("default-src 'none'; sandbox"):  # a citizen's own upload, downloaded
        pass
    else:
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-request-id"]
