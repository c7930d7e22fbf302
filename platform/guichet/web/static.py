"""Theme static files at ``/static/<theme>/<path>``, immutable when the URL carries ``?v=``."""

from __future__ import annotations

import mimetypes
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet.web.pages import services_of

__all__ = ["serve_static"]

_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".txt": "text/plain",
}


@get("/static/{theme:str}/{file_path:path}", name="static", include_in_schema=False)
async def serve_static(
    request: Request[Any, Any, Any], theme: FromPath[str], file_path: FromPath[str]
) -> Response[bytes]:
    renderer = services_of(request).renderer
    if theme not in renderer.themes():
        raise NotFoundException()
    found = renderer.static_path(theme, file_path.lstrip("/"))
    if found is None:
        raise NotFoundException()
    media_type = (
        _TYPES.get(found.suffix)
        or mimetypes.guess_type(found.name)[0]
        or "application/octet-stream"
    )
    cache = (
        "public, max-age=31536000, immutable"
        if "v" in request.query_params
        else "public, max-age=300"
    )
    return Response(found.read_bytes(), media_type=media_type, headers={"Cache-Control": cache})
