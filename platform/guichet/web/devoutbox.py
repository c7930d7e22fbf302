"""The embedded default's mailbox: the ``.eml`` files of ``var/outbox/`` listed at ``/outbox/``.

Served only when no SMTP relay is configured and outside production mode (404 otherwise), so that
a person trying ``make run`` can read the activation email in a browser.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet.web.pages import render_page, services_of

__all__ = ["outbox_index", "outbox_message"]

_NAME = re.compile(r"^[\w.-]+\.eml$")


def _enabled(request: Request[Any, Any, Any]) -> Any:
    settings = services_of(request).settings
    if settings.is_production or settings.email.smtp_host:
        raise NotFoundException()
    return settings


@get("/outbox", name="dev:outbox", include_in_schema=False)
async def outbox_index(request: Request[Any, Any, Any]) -> Response[str]:
    settings = _enabled(request)
    items = []
    folder = settings.outbox_dir
    files = sorted(folder.glob("*.eml"), reverse=True)[:200] if folder.is_dir() else []
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        items.append(
            {
                "name": path.name,
                "subject": message["Subject"],
                "to": message["To"],
                "date": message["Date"],
                "sender": message["From"],
            }
        )
    return render_page(
        request, "platform/outbox.html", items=items, headers={"Cache-Control": "no-store"}
    )


@get("/outbox/{name:str}", name="dev:outbox_message", include_in_schema=False)
async def outbox_message(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
    settings = _enabled(request)
    if not _NAME.match(name) or not (settings.outbox_dir / name).is_file():
        raise NotFoundException()
    message = message_from_bytes((settings.outbox_dir / name).read_bytes(), policy=policy.default)
    body = message.get_body(("plain",))
    return render_page(
        request,
        "platform/outbox_message.html",
        name=name,
        subject=message["Subject"],
        to=message["To"],
        sender=message["From"],
        date=message["Date"],
        text=body.get_content() if body else "",
        headers={"Cache-Control": "no-store"},
    )
