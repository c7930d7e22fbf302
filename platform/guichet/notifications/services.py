"""Writing emails into the outbox (with the change they report) and delivering them.

``queue_email`` renders the tenant-branded HTML and text versions in the recipient's language and
adds an :class:`OutboxMessage` to the caller's session: it is committed, or rolled back, with the
change. After the commit the web process asks a worker to deliver it (by task name); if the
broker is down the message simply waits for the periodic sweep. ``deliver`` sends through SMTP, or
writes a ``.eml`` file to ``var/outbox/`` in the embedded default.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import i18n
from guichet.notifications.models import OutboxMessage
from guichet.settings import Settings
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

__all__ = [
    "DELIVER_TASK",
    "SWEEP_TASK",
    "deliver",
    "enqueue_delivery",
    "queue_email",
    "send_pending",
]

log = logging.getLogger("guichet.notifications")
DELIVER_TASK = "guichet.notifications.deliver"
SWEEP_TASK = "guichet.notifications.sweep"
MAX_ATTEMPTS = 12


def render_email(
    renderer: TemplateRenderer,
    settings: Settings,
    tenant: TenantSnapshot,
    kind: str,
    locale: str,
    context: dict[str, Any],
) -> tuple[str, str, str]:
    """(subject, text, html) of ``emails/<kind>``, in ``locale``, branded for ``tenant``."""
    token = i18n.use_locale(locale)
    try:
        full = {
            "tenant": tenant,
            "locale": locale,
            "public_url": settings.web.public_url,
            "base_url": f"{settings.web.public_url}/{tenant.slug}",
            **context,
        }
        env = renderer.environment(tenant.theme)
        subject = env.get_template(f"emails/{kind}.subject.txt").render(full).strip()
        text = env.get_template(f"emails/{kind}.txt").render(full)
        html = env.get_template(f"emails/{kind}.html").render(full)
    finally:
        i18n._current.reset(token)
    return subject, text, html


def queue_email(
    session: AsyncSession,
    renderer: TemplateRenderer,
    settings: Settings,
    tenant: TenantSnapshot,
    *,
    kind: str,
    recipient: str,
    locale: str,
    context: dict[str, Any],
    attachment: tuple[str, str] | None = None,
) -> OutboxMessage:
    """Render and queue an email; ``attachment``: (stored file's key, name it goes by)."""
    subject, text, html = render_email(renderer, settings, tenant, kind, locale, context)
    message = OutboxMessage(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        kind=kind,
        recipient=recipient,
        subject=subject,
        text_body=text,
        html_body=html,
        sender_name=tenant.name,
        reply_to=tenant.contact_email,
        message_id=make_msgid(domain="guichet.local"),
        attachment_key=attachment[0] if attachment else "",
        attachment_name=attachment[1] if attachment else "",
    )
    session.add(message)
    return message


def enqueue_delivery(settings: Settings, message_ids: list[uuid.UUID]) -> None:
    """Ask a worker to deliver now; a broker that is down only delays delivery to the sweep."""
    if not message_ids:
        return
    try:
        app = _celery(settings)
        for message_id in message_ids:
            app.send_task(DELIVER_TASK, args=[str(message_id)], retry=False)
    except Exception as exc:
        log.warning(
            "broker unavailable, the outbox sweep will deliver later: %s", type(exc).__name__
        )


_celery_apps: dict[str, Any] = {}


def _celery(settings: Settings) -> Any:
    from celery import Celery

    from guichet.background import celery_config, ensure_broker_folders

    key = settings.broker_url
    app = _celery_apps.get(key)
    if app is None:
        # the embedded broker's folders: a command may be the first to hand it a message
        ensure_broker_folders(settings)
        app = Celery("guichet-client")
        config = celery_config(settings)
        config["broker_connection_retry_on_startup"] = False
        config["broker_connection_max_retries"] = 0
        config["broker_transport_options"] = {
            **config["broker_transport_options"],
            "max_retries": 0,
        }
        app.conf.update(**config)
        _celery_apps[key] = app
    return app


def to_email_message(
    message: OutboxMessage, settings: Settings, attachment: bytes | None = None
) -> EmailMessage:
    email = EmailMessage()
    sender_address = settings.email.sender
    if "<" in sender_address:
        sender_address = sender_address.split("<", 1)[1].rstrip(">")
    email["From"] = formataddr((message.sender_name or "Guichet", sender_address))
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id or make_msgid(domain="guichet.local")
    email["Date"] = (message.created_at or datetime.now(UTC)).strftime(
        "%a, %d %b %Y %H:%M:%S +0000"
    )
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    email.add_alternative(message.html_body, subtype="html")
    if attachment is not None:
        email.add_attachment(
            attachment, maintype="application", subtype="pdf", filename=message.attachment_name
        )
    return email


def _attachment(message: OutboxMessage, settings: Settings) -> bytes | None:
    """The file the message carries. A file store that does not answer raises (the message
    is sent later); a file that is gone is left out, so that the message still goes."""
    if not message.attachment_key:
        return None
    from guichet.files import create_file_store

    try:
        return create_file_store(settings).get(message.attachment_key)
    except FileNotFoundError:
        log.warning("email %s sent without its attachment: the file is gone", message.id)
        return None


def deliver(message: OutboxMessage, settings: Settings) -> None:
    """Send one message (raises on failure; the caller records the attempt)."""
    email = to_email_message(message, settings, _attachment(message, settings))
    if not settings.email.smtp_host:
        settings.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = (message.created_at or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        path = settings.outbox_dir / f"{stamp}-{message.kind}-{message.id}.eml"
        path.write_bytes(bytes(email))
        return
    with smtplib.SMTP(settings.email.smtp_host, settings.email.smtp_port, timeout=20) as smtp:
        if settings.email.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.email.smtp_user:
            smtp.login(settings.email.smtp_user, settings.email.smtp_password)
        smtp.send_message(email)


async def send_pending(
    session: AsyncSession,
    settings: Settings,
    message_id: uuid.UUID | None = None,
    limit: int = 100,
) -> int:
    """Deliver one message or every due one; a sent message is never sent again.

    The row is locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) so two workers never send the
    same message; a failure is recorded and retried later with a growing delay.
    """
    sent = 0
    for _ in range(1 if message_id is not None else limit):
        now = datetime.now(UTC)
        statement = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        if message_id is not None:
            statement = statement.where(OutboxMessage.id == message_id)
        else:
            statement = (
                statement.where(
                    (OutboxMessage.next_attempt_at.is_(None))
                    | (OutboxMessage.next_attempt_at <= now)
                )
                .where(OutboxMessage.attempts < MAX_ATTEMPTS)
                .order_by(OutboxMessage.created_at)
            )
        statement = statement.limit(1).with_for_update(skip_locked=True)
        message = (await session.execute(statement)).scalars().first()
        if message is None:
            await session.rollback()
            break
        try:
            deliver(message, settings)
        except Exception as exc:
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            message.next_attempt_at = now + timedelta(minutes=min(60, 2**message.attempts))
            log.warning(
                "email %s not delivered (attempt %s): %s",
                message.id,
                message.attempts,
                type(exc).__name__,
            )
        else:
            message.sent_at = datetime.now(UTC)
            message.attempts += 1
            sent += 1
        await session.commit()  # releases the row lock only once the outcome is recorded
    return sent
