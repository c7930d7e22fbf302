"""The embedded default's mailbox page (/outbox), and its absence when a relay is configured."""

import dataclasses
import re

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from guichet.app import create_app
from guichet.db.session import Database
from guichet.notifications.models import OutboxMessage
from guichet.notifications.services import send_pending
from guichet.settings import EmailSettings
from tests.support.accounts import FR, unique, wizard

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_outbox_lists_and_shows_delivered_emails(sqlite_backend):
    settings = sqlite_backend.settings
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as web:
        username = unique()
        await wizard(web, "ccas-castres", username=username, email=f"{username}@exemple.fr")
        db = Database(settings)
        async with db.session(all_tenants=True) as session:
            # this test's email only: earlier tests of the suite may leave more than one
            # delivery round (100) of theirs pending in the shared database
            mine = await session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.recipient == f"{username}@exemple.fr")
            )
            assert mine is not None
            assert await send_pending(session, settings, message_id=mine) == 1
        await db.dispose()
        index = await web.get("/outbox", headers=FR)
        assert index.status_code == 200 and f"{username}@exemple.fr" in index.text
        name = index.text.split('href="/outbox/')[1].split('"')[0]
        message = await web.get(f"/outbox/{name}", headers=FR)
        assert "Activez votre espace" in message.text and "/ccas-castres/activer/" in message.text
        assert (await web.get("/outbox/..%2F..%2Fetc%2Fpasswd", headers=FR)).status_code == 404


async def test_outbox_page_does_not_exist_with_a_relay(sqlite_backend):
    settings = dataclasses.replace(
        sqlite_backend.settings, email=EmailSettings(smtp_host="smtp.example.org")
    )
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as web:
        assert (await web.get("/outbox", headers=FR)).status_code == 404


async def test_outbox_shows_an_attachment_and_opens_it(sqlite_backend):
    """The paperless invoice email carries its PDF: the embedded default's mailbox lists it and
    opens it, as a mail program would."""
    from guichet.files import create_file_store

    settings = sqlite_backend.settings
    pdf = b"%PDF-1.7 une facture\n"
    create_file_store(settings).put("tests/outbox/facture.pdf", pdf)
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as web:
        username = unique()
        await wizard(web, "ccas-castres", username=username, email=f"{username}@exemple.fr")
        db = Database(settings)
        async with db.session(all_tenants=True) as session:
            message = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.recipient == f"{username}@exemple.fr")
            )
            message.attachment_key = "tests/outbox/facture.pdf"
            message.attachment_name = "facture-2001000001.pdf"
            message_id = message.id
            await session.commit()
            assert await send_pending(session, settings, message_id=message_id) == 1
        await db.dispose()
        index = await web.get("/outbox", headers=FR)
        [name] = re.findall(rf'href="/outbox/([^"]*-{message_id}\.eml)"', index.text)
        shown = await web.get(f"/outbox/{name}", headers=FR)
        assert "Pièces jointes" in shown.text and "facture-2001000001.pdf" in shown.text
        opened = await web.get(f"/outbox/{name}/pieces/1", headers=FR)
        assert opened.status_code == 200 and opened.content == pdf
        assert opened.headers["content-type"] == "application/pdf"
        assert 'filename="facture-2001000001.pdf"' in opened.headers["content-disposition"]
        assert (await web.get(f"/outbox/{name}/pieces/2", headers=FR)).status_code == 404
