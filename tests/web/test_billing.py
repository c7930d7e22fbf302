"""MES FACTURES, invoice PDFs, online payment and every notification attack, on both backends."""

import asyncio
import re
from html import unescape
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from guichet.billing.models import Invoice, Payment, PaymentTransaction
from guichet.db.session import Database
from tests.support.accounts import FR, csrf, new_citizen, outbox, post_form
from tests.support.billing import (
    NOTIFY,
    bank_answer,
    invoice_for,
    notify,
    on_a_paybox_ledger,
    start_payment,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def text(response):
    return unescape(response.text)


async def state(settings, invoice_id):
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            payments = await session.scalar(
                select(func.count()).select_from(Payment).where(Payment.invoice_id == invoice_id)
            )
            transactions = (
                (
                    await session.execute(
                        select(PaymentTransaction).where(
                            PaymentTransaction.invoice_id == invoice_id
                        )
                    )
                )
                .scalars()
                .all()
            )
            return invoice, payments, transactions
    finally:
        await db.dispose()


async def test_demo_invoice_is_listed_as_the_guide_shows_it(web):
    from tests.support.accounts import login

    await login(web, "ccas-castres", "calquier", "Castres-2020")
    page = text(await web.get("/ccas-castres/mon-espace/factures/", headers=FR))
    assert "Vous avez 1 facture non réglée" in page
    assert "FACTURATION SERVICE SÉNIORS" in page
    assert "2001000001 - Janvier 2020" in page and "Facture non réglée : 8,53\xa0€" in page
    assert "Historique" in page and "2001000002 - Décembre 2019" in page
    invoice_id = re.search(
        r"/mon-espace/factures/([0-9a-f-]{36})\">\s*<span class=\"invoice-"
        r"name\">2001000001",
        page,
    ).group(1)
    detail = text(await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR))
    for expected in [
        "FACTURATION SERVICE SÉNIORS - 2001000001 - JANVIER 2020",
        "Destinataire",
        "Madame ALQUIER Cécile",
        "Facture du",
        "A régler avant le",
        "17/12/2019",
        "15/02/2020",
        "Reste à payer",
        "Montant total",
        "PAYER MA FACTURE EN LIGNE",
        "Le paiement en ligne est disponible à partir du",
        "PAYER LA FACTURE",
        "TÉLÉCHARGER MA FACTURE",
        "PDF",
        'value="c.alquier@ville-castres.fr"',
    ]:
        assert expected in detail, expected


async def test_no_invoice_yet_says_why(web, backend):
    """No invoice because no service is linked (add a key), or because none was issued yet."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from guichet.accounts.models import Citizen, ServiceAccount
    from tests.support.billing import tenant_and_service

    username, _ = await new_citizen(web, backend.settings)
    url = "/ccas-castres/mon-espace/factures/"
    none_linked = text(await web.get(url, headers=FR))
    assert "dès qu'un service est relié à votre espace" in none_linked
    assert "Ajouter une clé d'accès" in none_linked
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant, service = await tenant_and_service(session)
            citizen = await session.scalar(select(Citizen).where(Citizen.username == username))
            session.add(
                ServiceAccount(
                    tenant_id=tenant.id,
                    service_id=service.id,
                    reference=f"T-{uuid4().hex[:10]}",
                    holder_name="Madame TEST",
                    key_digest=uuid4().hex * 2,
                    citizen_id=citizen.id,
                    linked_at=datetime.now(UTC),
                )
            )
    finally:
        await db.dispose()
    linked = text(await web.get(url, headers=FR))
    assert "dès que le service relié à votre espace vous en adressera une" in linked
    assert "Ajouter une clé d'accès" not in linked


async def test_invoice_pdf_is_a_real_pdf_of_the_invoice(web, backend):
    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=1706)
    response = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"%PDF-")
    import io

    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(response.content)).pages[0]
    text_of_pdf = page.extract_text()
    assert "FACTURATION SERVICE SÉNIORS" in text_of_pdf and "17,06" in text_of_pdf
    assert "CCAS de Castres" in text_of_pdf
    # one page: the header names the invoice, no footer repeats it
    assert "— Facture n°" not in " ".join(text_of_pdf.split())
    words = " ".join(text_of_pdf.split())
    assert "Auprès du CCAS de Castres" in words  # not « de CCAS »
    # a letter names the portal: paper is what those without a personal space receive
    portal = f"{backend.settings.web.public_url}/ccas-castres/"
    assert f"espace personnel sur {portal} : MES FACTURES" in words
    # to whose order a cheque is made, and where to bring or send it (the tenant's address)
    assert "Chèque à l'ordre de : Régie Service Séniors CCAS de Castres" in words
    assert "Adresse : Espace Seniors — CCAS de Castres, 2 place de la République, 81100" in words
    # One family throughout, the footer included (it came out in a third font, DejaVu Serif).
    fonts = {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts == {"DejaVu-Sans", "DejaVu-Sans-Bold"}
    again = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")
    assert again.content == response.content  # stored, not rendered again


async def test_pay_online_through_the_signed_sandbox_bank(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(web, invoice_id, email)
    assert fields["vads_amount"] == "853" and fields["signature"]
    reference = fields["vads_ext_info_eopayment_trans_id"]
    # The browser comes back before the bank's notification: pending, never proof of payment.
    pending = await web.get(f"/ccas-castres/mon-espace/factures/paiement/{reference}", headers=FR)
    assert "Nous attendons la confirmation de la banque" in text(pending)
    assert 'http-equiv="refresh"' in pending.text
    response = await notify(web, bank_answer(backend.settings, fields))
    assert response.status_code == 200 and response.text == "OK"
    invoice, payments, transactions = await state(backend.settings, invoice_id)
    assert invoice.status == "reglee" and invoice.paid_cents == 853 and payments == 1
    assert transactions[0].notifications and transactions[0].notifications[0]["signed"]
    done = await web.get(f"/ccas-castres/mon-espace/factures/paiement/{reference}", headers=FR)
    assert "Votre paiement de 8,53\xa0€ est confirmé" in text(done)
    [mail] = await outbox(backend.settings, "ccas-castres", email, "payment_confirmed")
    assert "Paiement confirmé" in mail.subject and reference in mail.text_body
    detail = text(await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR))
    assert "Cette facture est déjà réglée" in detail  # never paid twice online
    assert "Le paiement en ligne est disponible" not in detail  # no window for a paid invoice
    import io

    from pypdf import PdfReader

    pdf = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")
    paid_pdf = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Cette facture est réglée" in paid_pdf and "Comment régler" not in paid_pdf


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("unsigned", 400),
        ("bad_signature", 400),
        ("amount", 400),
        ("unknown_reference", 400),
        ("malformed", 400),
        ("huge", 413),
        ("empty", 400),
    ],
)
async def test_notification_attacks_change_nothing(web, backend, tamper, expected):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(web, invoice_id, email)
    answer = bank_answer(backend.settings, fields)
    if tamper == "unsigned":
        answer.pop("signature")
        body = urlencode(answer)
    elif tamper == "bad_signature":
        answer["signature"] = answer["signature"][:-4] + "AAA="
        body = urlencode(answer)
    elif tamper == "amount":  # a valid signature on another amount
        body = urlencode(bank_answer(backend.settings, fields, vads_amount="1"))
    elif tamper == "unknown_reference":
        body = urlencode(
            bank_answer(backend.settings, fields, vads_ext_info_eopayment_trans_id="NOPE")
        )
    elif tamper == "malformed":
        body = "vads_ext_info_eopayment_trans_id=" + fields["vads_ext_info_eopayment_trans_id"]
    elif tamper == "huge":
        body = urlencode(answer) + "&x=" + "A" * 100_000
    else:
        body = ""
    response = await web.post(
        NOTIFY, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == expected, response.text
    invoice, payments, _ = await state(backend.settings, invoice_id)
    assert invoice.status == "non_reglee" and invoice.paid_cents == 0 and payments == 0


async def test_ten_identical_notifications_at_once_make_one_payment(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    answer = bank_answer(backend.settings, await start_payment(web, invoice_id, email))
    responses = await asyncio.gather(*[notify(web, answer) for _ in range(10)])
    assert {r.status_code for r in responses} == {200}
    invoice, payments, transactions = await state(backend.settings, invoice_id)
    assert payments == 1 and invoice.paid_cents == 853
    assert len(transactions[0].notifications) == 10  # every one kept as received
    mails = await outbox(backend.settings, "ccas-castres", email, "payment_confirmed")
    assert len(mails) == 1


async def test_late_notification_is_recorded_and_flagged(web, backend):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(web, invoice_id, email)
    db = Database(backend.settings)
    async with db.transaction(all_tenants=True) as session:
        await session.execute(
            update(PaymentTransaction)
            .where(PaymentTransaction.invoice_id == invoice_id)
            .values(expires_at=datetime.now(UTC) - timedelta(hours=2), status="expired")
        )
    await db.dispose()
    assert (await notify(web, bank_answer(backend.settings, fields))).status_code == 200
    invoice, payments, transactions = await state(backend.settings, invoice_id)
    assert payments == 1 and invoice.status == "reglee"
    assert transactions[0].late is True and transactions[0].status == "paid"


async def test_refused_and_cancelled_payments_leave_the_invoice_unpaid(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    for result, status in (("05", "refused"), ("17", "cancelled")):
        fields = await start_payment(web, invoice_id, email)
        assert (await notify(web, bank_answer(backend.settings, fields, result))).status_code == 200
        reference = fields["vads_ext_info_eopayment_trans_id"]
        page = text(
            await web.get(f"/ccas-castres/mon-espace/factures/paiement/{reference}", headers=FR)
        )
        assert "rien n'a été prélevé" in page
    invoice, payments, transactions = await state(backend.settings, invoice_id)
    assert payments == 0 and invoice.status == "non_reglee"
    assert sorted(t.status for t in transactions) == ["cancelled", "refused"]
    # her history says how each attempt ended, not only that it started
    await start_payment(web, invoice_id, email)
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    number = invoice.number
    for outcome in (
        "en attente de la réponse de la banque",
        "paiement annulé",
        "paiement refusé par la banque",
    ):
        assert f"Facture {number} : 8,53\xa0€ — {outcome}" in history, history
    # left at the bank past its time: « non terminé », before the reconciliation runs too
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            await session.execute(
                update(PaymentTransaction)
                .where(
                    PaymentTransaction.invoice_id == invoice_id,
                    PaymentTransaction.status == "pending",
                )
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
    finally:
        await db.dispose()
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    assert f"Facture {number} : 8,53\xa0€ — paiement non terminé" in history
    # the action is the payment, its outcome the detail (« commencé … accepté » read oddly)
    assert "Paiement en ligne</td>" in history and "Paiement en ligne commencé" not in history
    assert "en attente de la réponse de la banque" not in history


@pytest.mark.parametrize(
    ("window", "status", "cents", "reason"),
    [
        ("closed", None, 853, "est clos"),
        ("future", None, 853, "pas encore ouvert"),
        ("open", "prelevee", 853, "prélèvement automatique"),
        ("open", None, 50, "inférieur au minimum"),
        ("open", None, 200_000, "dépasse le maximum"),
    ],
)
async def test_why_online_payment_is_not_possible(web, backend, window, status, cents, reason):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(
        backend.settings, "ccas-castres", username, window=window, status=status, cents=cents
    )
    page = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR)
    assert reason in text(page) and "PAYER LA FACTURE" not in text(page)
    refused = await web.post(
        f"/ccas-castres/mon-espace/factures/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page.text), "email": email},
    )
    assert refused.status_code == 400


async def test_another_citizens_or_tenants_invoice_is_404(web, backend):
    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    page = (await web.get("/ccas-castres/mon-espace", headers=FR)).text
    for path in (f"/mon-espace/factures/{invoice_id}", f"/mon-espace/factures/{invoice_id}/pdf"):
        assert (await web.get(f"/ccas-castres{path}", headers=FR)).status_code == 404
    paid = await web.post(
        f"/ccas-castres/mon-espace/factures/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page), "email": "x@exemple.fr"},
    )
    assert paid.status_code == 404
    web.cookies.clear()
    await new_citizen(web, backend.settings, slug="mairie-valdoree")
    assert (
        await web.get(f"/mairie-valdoree/mon-espace/factures/{invoice_id}/pdf", headers=FR)
    ).status_code == 404


async def test_a_notification_is_valid_only_in_its_tenant(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    answer = bank_answer(backend.settings, await start_payment(web, invoice_id, email))
    response = await web.post(
        "/mairie-valdoree/paiement/notification",
        content=urlencode(answer),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    _, payments, _ = await state(backend.settings, invoice_id)
    assert payments == 0


async def test_paperless_opt_in_and_out_keeps_the_consent_date(web, backend):
    username, email = await new_citizen(web, backend.settings)
    await invoice_for(backend.settings, "ccas-castres", username)  # links a service file
    page = await web.get("/ccas-castres/mon-espace/factures/adhesion", headers=FR)
    assert "Non adhérent" in text(page) and "Action sociale" in text(page)
    account = re.search(r'name="account" value="([^"]+)"', page.text).group(1)
    page = await post_form(
        web,
        "/ccas-castres/mon-espace/factures/adhesion",
        {"account": account, "paperless": "yes", "email": email},
        page=page.text,
    )
    assert "Adhérent" in text(page) and "depuis le" in text(page)
    # the button says what it does, and so does the message after it
    assert "recevoir de nouveau mes factures par courrier" in text(page)
    assert (
        "C'est fait : les factures du service Action sociale vous seront envoyées par courriel "
        f"à {email} ; vous ne les recevrez plus par courrier."
    ) in text(page)
    back = await post_form(
        web,
        "/ccas-castres/mon-espace/factures/adhesion",
        {"account": account, "paperless": "no", "email": email},
        page=page.text,
    )
    assert "Non adhérent" in text(back)
    assert "vous seront de nouveau envoyées par courrier." in text(back)
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    assert "Adhésion à la facture en ligne modifiée" in history


async def test_reconciliation_expires_unanswered_attempts_and_a_late_answer_still_counts(
    web, backend
):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from guichet.billing.services import expire_attempts

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(web, invoice_id, email)
    db = Database(backend.settings)
    async with db.transaction(all_tenants=True) as session:
        await session.execute(
            update(PaymentTransaction)
            .where(PaymentTransaction.invoice_id == invoice_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    async with db.session(all_tenants=True) as session:
        assert await expire_attempts(session) >= 1
    await db.dispose()
    _, _, transactions = await state(backend.settings, invoice_id)
    assert transactions[0].status == "expired"
    assert (await notify(web, bank_answer(backend.settings, fields))).status_code == 200
    invoice, payments, transactions = await state(backend.settings, invoice_id)
    assert payments == 1 and transactions[0].late is True and invoice.status == "reglee"


async def test_payment_receipt_pdf(web, backend):
    import io

    from pypdf import PdfReader

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    await notify(web, bank_answer(backend.settings, await start_payment(web, invoice_id, email)))
    page = (await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR)).text
    link = re.search(r'href="(/ccas-castres/mon-espace/factures/[^"]+/recu/[^"]+)"', page).group(1)
    response = await web.get(link)
    assert response.headers["content-type"] == "application/pdf"
    text_of_pdf = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Reçu de paiement" in text_of_pdf and "8,53" in text_of_pdf
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    assert (await web.get(link)).status_code == 404


async def test_reminder_before_the_due_date_is_sent_once(web, backend):
    from datetime import date, timedelta

    from sqlalchemy import update

    from guichet.billing.services import send_reminders
    from guichet.web.templates import TemplateRenderer

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    db = Database(backend.settings)
    async with db.transaction(all_tenants=True) as session:
        await session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id)
            .values(due_date=date.today() + timedelta(days=3))
        )
    renderer = TemplateRenderer(backend.settings.themes_dir)
    async with db.session(all_tenants=True) as session:
        await send_reminders(session, backend.settings, renderer)
    async with db.session(all_tenants=True) as session:
        await send_reminders(session, backend.settings, renderer)
    await db.dispose()
    mails = await outbox(backend.settings, "ccas-castres", email, "invoice_reminder")
    assert len(mails) == 1 and "Rappel" in mails[0].subject


async def paybox_attempt(settings, invoice_id, cents=853):
    """Move the invoice to a new Paybox ledger (encrypted options) and open an attempt on it."""
    import uuid
    from datetime import UTC, datetime, timedelta

    await on_a_paybox_ledger(settings, invoice_id)
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            reference = f"PBX{uuid.uuid4().hex[:12].upper()}"
            session.add(
                PaymentTransaction(
                    tenant_id=invoice.tenant_id,
                    invoice_id=invoice.id,
                    reference=reference,
                    amount_cents=cents,
                    backend="paybox",
                    expires_at=datetime.now(UTC) + timedelta(minutes=30),
                )
            )
            return reference
    finally:
        await db.dispose()


async def test_an_unsigned_paybox_notification_is_refused(web, backend):
    # eopayment's paybox answer is PAID with signed=False when the signature is missing.
    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    reference = await paybox_attempt(backend.settings, invoice_id)
    body = f"reference={reference}&erreur=00000&montant=853&autorisation=XXXXXX"
    response = await web.post(
        NOTIFY, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400 and "signature" in response.text
    invoice, payments, [transaction] = await state(backend.settings, invoice_id)
    assert invoice.status == "non_reglee" and payments == 0
    assert transaction.status == "pending"
    assert transaction.notifications[-1]["refused"] == "unsigned"


async def test_paybox_notifications_only_from_the_allowed_addresses(web, backend):
    import dataclasses

    from guichet.billing.services import NotificationError, handle_notification

    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    reference = await paybox_attempt(backend.settings, invoice_id)
    settings = dataclasses.replace(
        backend.settings,
        web=dataclasses.replace(
            backend.settings.web, paybox_allowed_ips="194.2.122.158, 195.25.7.0/24"
        ),
    )
    body = f"reference={reference}&erreur=00000&montant=853"
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            tenant_id = invoice.tenant_id
            for stranger in ("10.0.0.9", "195.25.8.1", "not-an-address", ""):
                with pytest.raises(NotificationError, match="source address"):
                    await handle_notification(
                        session, tenant_id, body, settings, "http://t/ccas-castres", stranger
                    )
        async with db.session(all_tenants=True) as session:
            # From an allowed address the signature is still required.
            with pytest.raises(NotificationError, match="signature"):
                await handle_notification(
                    session, tenant_id, body, settings, "http://t/ccas-castres", "195.25.7.166"
                )
        async with db.session(all_tenants=True) as session:
            with pytest.raises(NotificationError, match="signature"):
                await handle_notification(
                    session,
                    tenant_id,
                    body,
                    settings,
                    "http://t/ccas-castres",
                    "::ffff:194.2.122.158",
                )
    finally:
        await db.dispose()
    invoice, payments, [transaction] = await state(backend.settings, invoice_id)
    assert invoice.status == "non_reglee" and payments == 0
    # Strangers leave no trace in the attempt; the allowed sources' answers are kept.
    assert [n["refused"] for n in transaction.notifications] == ["unsigned", "unsigned"]


async def test_a_broken_bank_configuration_gives_a_clear_page_and_keeps_the_email(web, backend):
    from guichet.billing.models import Ledger

    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    await paybox_attempt(backend.settings, invoice_id)  # a Paybox ledger for this invoice
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            ledger = await session.get(Ledger, invoice.ledger_id)
            ledger.backend_options = "options encrypted with another key"
    finally:
        await db.dispose()
    page = (await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR)).text
    # the helper's attempt is still open: the page says so, and its form starts another
    assert "Un paiement de cette facture a été commencé" in unescape(page)
    assert '<input type="hidden" name="again" value="oui">' in page
    response = await web.post(
        f"/ccas-castres/mon-espace/factures/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page), "email": "tape@exemple.fr", "again": "oui"},
    )
    assert response.status_code == 503
    assert "Le paiement en ligne est momentanément indisponible" in text(response)
    assert 'value="tape@exemple.fr"' in response.text
    _, payments, transactions = await state(backend.settings, invoice_id)
    assert payments == 0 and len(transactions) == 1  # only the attempt made by the helper


async def test_a_notification_for_a_broken_bank_configuration_is_kept_and_retried(web, backend):
    from guichet.billing.models import Ledger

    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    reference = await paybox_attempt(backend.settings, invoice_id)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            ledger = await session.get(Ledger, invoice.ledger_id)
            ledger.backend_options = "options encrypted with another key"
    finally:
        await db.dispose()
    body = f"reference={reference}&erreur=00000&montant=853"
    response = await web.post(
        NOTIFY, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 503  # the bank sends it again later
    invoice, payments, [transaction] = await state(backend.settings, invoice_id)
    assert invoice.status == "non_reglee" and payments == 0
    assert transaction.notifications[-1]["body"] == body
    assert transaction.notifications[-1]["refused"].startswith("configuration")


async def test_a_part_paid_at_the_desk_lowers_what_is_left_and_online_pays_the_rest(web, backend):
    import io
    from datetime import UTC, datetime

    from pypdf import PdfReader

    from guichet.billing.services import refresh_status

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=1706)
    before = (await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")).content
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            session.add(
                Payment(
                    tenant_id=invoice.tenant_id,
                    invoice_id=invoice.id,
                    amount_cents=706,
                    method="agent",
                    paid_at=datetime.now(UTC),
                    reference="chèque 1234",
                )
            )
            invoice.paid_cents = 706
            refresh_status(invoice)
    finally:
        await db.dispose()
    page = text(await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR))
    assert "Facture partiellement réglée" in page and "10,00\xa0€" in page
    assert "réglé auprès de nos services" in page
    listing = text(await web.get("/ccas-castres/mon-espace/factures/", headers=FR))
    assert "10,00\xa0€" in listing
    after = (await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")).content
    assert after != before  # the PDF follows the invoice
    pdf_text = PdfReader(io.BytesIO(after)).pages[0].extract_text()
    assert "Déjà réglé" in pdf_text and "7,06" in pdf_text and "10,00" in pdf_text
    fields = await start_payment(web, invoice_id, email)
    assert fields["vads_amount"] == "1000"  # only what is left
    assert (await notify(web, bank_answer(backend.settings, fields))).status_code == 200
    invoice, payments, _ = await state(backend.settings, invoice_id)
    assert invoice.status == "reglee" and invoice.paid_cents == 1706 and payments == 2


async def test_the_sandbox_bank_checks_the_expiry_and_keeps_what_was_typed(web, backend):
    from guichet.billing.sandbox import expiry_problem

    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(web, invoice_id, email)
    choose = await web.post("/sandbox/banque", data=fields)
    assert "Choisissez votre moyen de paiement" in text(choose) and 'value="visa"' in choose.text
    # each step has its own address: the browser's Back finds it again (not a POST's answer)
    page = str(choose.url)
    assert re.search(r"/sandbox/banque/[A-Za-z0-9_-]{20,}$", page)
    card = await web.get(f"{page}?moyen=visa")
    assert "Paiement de 8.53 EUR" in text(card) and 'name="card_number"' in card.text
    assert "Choisissez votre moyen de paiement" in text(await web.get(page))
    gone = await web.get("/sandbox/banque/pas-un-jeton-connu-de-la-banque")
    assert gone.status_code == 404 and "Page de paiement expirée" in text(gone)
    for expiry, message in (
        ("13/19", "par exemple 09/28"),
        ("01/20", "n'est plus valable"),
        ("", "Indiquez la date de fin de validité"),
    ):
        refused = await web.post(
            "/sandbox/banque/payer",
            data={
                **fields,
                "method": "visa",
                "action": "pay",
                "card_number": "4970 1000 0000 0000",
                "expiry": expiry,
                "cvv": "123",
            },
        )
        assert refused.status_code == 400 and message in text(refused), expiry
        assert 'value="4970 1000 0000 0000"' in refused.text  # kept; the cryptogram is not
        assert 'value="123"' not in refused.text
    invoice, payments, _transactions = await state(backend.settings, invoice_id)
    assert payments == 0 and invoice.status == "non_reglee"
    from datetime import date

    today = date(2026, 12, 7)
    assert expiry_problem("12/26", today) == "" and expiry_problem("01/27", today) == ""
    assert expiry_problem("11/26", today) and expiry_problem("1/27", today)
    assert expiry_problem(" 09 / 28 ", today) == ""


async def test_an_empty_email_is_asked_for_not_called_invalid(web, backend):
    username, _email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    url = f"/ccas-castres/mon-espace/factures/{invoice_id}"
    page = await web.get(url, headers=FR)
    empty = await post_form(web, f"{url}/payer", {"email": ""}, page=page.text)
    assert empty.status_code == 400 and "Indiquez votre adresse de courriel" in text(empty)
    wrong = await post_form(web, f"{url}/payer", {"email": "cecile@"}, page=page.text)
    assert wrong.status_code == 400 and "Adresse de courriel invalide" in text(wrong)
    assert 'value="cecile@"' in wrong.text  # kept


async def test_a_long_invoice_keeps_each_line_whole_and_names_itself_on_every_page(web, backend):
    """A month of meals is a line per delivery: the PDF went on over pages, one line cut in
    two (its label at the foot of a page, its amounts at the top of the next), and the next
    pages did not say which invoice they were (a tester's walk)."""
    import io

    from pypdf import PdfReader

    from guichet.billing.models import InvoiceLine

    username, _ = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=853 * 40)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            number = invoice.number
            for position in range(2, 41):
                session.add(
                    InvoiceLine(
                        tenant_id=invoice.tenant_id,
                        invoice_id=invoice.id,
                        position=position,
                        label=f"Repas n° {position} livré à domicile (déjeuner et dîner, "
                        "régime sans sel, pain et dessert compris)",
                        quantity=1,
                        unit_cents=853,
                        amount_cents=853,
                    )
                )
    finally:
        await db.dispose()
    response = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]
    assert len(pages) >= 2
    footer = f"CCAS de Castres — Facture n° {number}"
    for index, page in enumerate(pages):
        words = " ".join(page.split())
        # the first page's header names the invoice; each following page's footer does
        assert f"Facture n° {number}" in words
        assert (footer in words) is (index > 0), words
        # every line on this page has its label and both amounts here
        labels = len(re.findall(r"Repas n° \d+ livré", words))
        assert words.count("8,53") == 2 * labels, words
