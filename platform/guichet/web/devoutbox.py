"""The embedded default's mailbox: the ``.eml`` files of ``var/outbox/`` listed at ``/outbox/``.

Served only when no SMTP relay is configured and outside production mode (404 otherwise), so that
a person trying ``make run`` can read the activation email in a browser.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet.web.pages import render_page, services_of

__all__ = ["outbox_attachment", "outbox_index", "outbox_message"]

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


def _message(request: Request[Any, Any, Any], name: str) -> EmailMessage:
    settings = _enabled(request)
    if not _NAME.match(name) or not (settings.outbox_dir / name).is_file():
        raise NotFoundException()
    path = settings.outbox_dir / name
    return cast(EmailMessage, message_from_bytes(path.read_bytes(), policy=policy.default))


@get("/outbox/{name:str}", name="dev:outbox_message", include_in_schema=False)
async def outbox_message(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
    message = _message(request, name)
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
        attachments=[
            (part.get_filename() or "piece", len(part.get_content()))
            for part in message.iter_attachments()
        ],
        headers={"Cache-Control": "no-store"},
    )


@get(
    "/outbox/{name:str}/pieces/{number:int}", name="dev:outbox_attachment", include_in_schema=False
)
async def outbox_attachment(
    request: Request[Any, Any, Any], name: FromPath[str], number: FromPath[int]
) -> Response[bytes]:
    """The message's attachment ``number`` (from 1), as the mail program would open it."""
    parts = list(_message(request, name).iter_attachments())
    if not 1 <= number <= len(parts):
        raise NotFoundException()
    part = parts[number - 1]
    filename = re.sub(r"[^\w.-]", "_", part.get_filename() or "piece")
    return Response(
        content=part.get_content(),
        media_type=part.get_content_type(),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
