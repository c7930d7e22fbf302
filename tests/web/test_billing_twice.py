"""An invoice paid twice online (two windows, two devices: a tester paid one 170,60 € invoice
twice and nothing said so): the second start is warned first, a second payment the bank makes
anyway is recorded, said to the citizen and listed for the agents, who record its refund. And
the page that goes on to the bank has its own address, so that Back from the bank finds it.
On both backends."""

import re
from html import unescape

import pytest

from guichet.admin.billing import paris_today
from tests.support.accounts import FR, csrf, new_citizen, outbox, post_form
from tests.support.billing import bank_answer, bank_form, invoice_for, notify, start_payment
from tests.support.staff import signed_in_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")
BASE = "/ccas-castres/mon-espace/factures"


def text(response):
    return unescape(response.text)


async def test_a_second_payment_is_warned_then_recorded_shown_and_refunded(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=17060)
    first = await start_payment(web, invoice_id, email)  # the first window, at the bank

    # the second window: its page says a payment is under way, and its form says it was read
    page = await web.get(f"{BASE}/{invoice_id}", headers=FR)
    assert "Un paiement de cette facture a été commencé le" in text(page)
    assert "en commencer un autre ici vous ferait payer deux fois" in text(page)
    # it can be resumed: the same attempt at the bank, which cannot be paid twice
    resume = re.search(r'href="([^"]+/banque)">Reprendre ce paiement<', page.text).group(1)
    resumed = await web.get(resume, headers=FR)
    assert bank_form(resumed.text) == first
    # a page loaded before the first window started it: warned, nothing started, email kept
    stale = await web.post(
        f"{BASE}/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page.text), "email": "autre@exemple.fr"},
    )
    assert stale.status_code == 409 and "Un paiement de cette facture a été commencé" in text(stale)
    assert 'value="autre@exemple.fr"' in stale.text
    again = await post_form(
        web, f"{BASE}/{invoice_id}/payer", {"email": email, "again": "oui"}, page=page.text
    )
    second = bank_form(again.text)
    assert second["vads_ext_info_eopayment_trans_id"] != first["vads_ext_info_eopayment_trans_id"]

    # the bank takes both
    assert (await notify(web, bank_answer(backend.settings, first))).status_code == 200
    assert (await notify(web, bank_answer(backend.settings, second))).status_code == 200
    told = "Cette facture a été payée plus qu'il ne fallait (170,60\xa0€ de trop"
    reference = second["vads_ext_info_eopayment_trans_id"]
    back = text(await web.get(f"{BASE}/paiement/{reference}", headers=FR))
    assert "est confirmé par la banque" in back and told in back
    detail = text(await web.get(f"{BASE}/{invoice_id}", headers=FR))
    assert told in detail and "Nos services vous rembourseront" in detail
    mails = await outbox(backend.settings, "ccas-castres", email, "payment_confirmed")
    assert [told in mail.text_body for mail in mails] == [False, True]

    # the agents see it, and record the refund: never more than the excess
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    billing = text(await web.get("/ccas-castres/admin/facturation/", headers=FR))
    assert re.search(r"\d+ factures? payées? en trop, à rembourser", billing)
    listed = text(
        await web.get("/ccas-castres/admin/facturation/factures?etat=trop_percu", headers=FR)
    )
    number = re.search(
        r"— (9\d{9}) —",
        text(await web.get(f"/ccas-castres/admin/facturation/factures/{invoice_id}", headers=FR)),
    ).group(1)
    assert number in listed and "— <strong>payée en trop, à rembourser</strong>" in listed
    url = f"/ccas-castres/admin/facturation/factures/{invoice_id}"
    agent_page = await web.get(url, headers=FR)
    assert "Payée en trop : 170,60\xa0€ à rembourser" in text(agent_page)
    assert 'value="170,60"' in agent_page.text  # the excess, prefilled
    today = paris_today().strftime("%d/%m/%Y")  # the agents' day
    form = {"refund_amount": "200", "refunded_on": today, "refund_method": "remb_banque"}
    too_much = await post_form(web, f"{url}/remboursement", form, page=agent_page.text)
    assert too_much.status_code == 400
    assert "Plus que ce qui a été payé en trop (170,60 €)." in text(too_much)
    assert 'value="200"' in too_much.text
    once = re.search(r'name="once" value="([0-9a-f]{32})"', agent_page.text).group(1)
    form.update(refund_amount="170,60", refund_reference="annulation 42", once=once)
    done = await post_form(web, f"{url}/remboursement", form, page=agent_page.text)
    assert "Le remboursement est enregistré." in text(done)
    assert "à rembourser" not in text(done) and "remboursement par la banque" in text(done)
    twice = await post_form(web, f"{url}/remboursement", form, page=agent_page.text)
    assert "Ce remboursement est déjà enregistré." in text(twice)  # the same form again
    form["once"] = "0" * 32  # the form of another tab, sent after
    other_tab = await post_form(web, f"{url}/remboursement", form, page=agent_page.text)
    assert other_tab.status_code == 400 and "Ce trop-perçu est déjà remboursé" in text(other_tab)
    listed = text(
        await web.get("/ccas-castres/admin/facturation/factures?etat=trop_percu", headers=FR)
    )
    assert number not in listed
    export = await web.get(f"/ccas-castres/admin/facturation/paiements.csv?du={today}&au={today}")
    assert f";{number};Madame {username.upper()};-170,60;remb_banque;annulation 42" in (
        export.content.decode("utf-8-sig")
    )

    # the citizen sees the refund, settled, and no receipt for it
    web.cookies.clear()
    from tests.support.accounts import STRONG, login

    await login(web, "ccas-castres", username, STRONG)
    detail = await web.get(f"{BASE}/{invoice_id}", headers=FR)
    assert told not in text(detail) and "remboursement de 170,60\xa0€ par nos services" in text(
        detail
    )
    assert "Facture réglée" in text(detail)
    receipts = re.findall(rf"{BASE}/{invoice_id}/recu/([0-9a-f-]{{36}})", detail.text)
    assert len(receipts) == 2  # the two payments, not the refund


async def test_the_bank_page_has_its_own_address_until_the_bank_answers(web, backend):
    username, email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    page = await web.get(f"{BASE}/{invoice_id}", headers=FR)
    started = await web.post(
        f"{BASE}/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page.text), "email": email},
        follow_redirects=False,
    )
    assert started.status_code == 303
    bank_url = started.headers["location"]
    assert re.fullmatch(rf"{BASE}/paiement/[0-9A-F]+/banque", bank_url)
    # Back from the bank: the same page, the same form, nothing started again
    fields = bank_form((await web.get(bank_url, headers=FR)).text)
    assert bank_form((await web.get(bank_url, headers=FR)).text) == fields
    # another citizen: no such page
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    assert (await web.get(bank_url, headers=FR)).status_code == 404
    # once the bank has answered, the address shows where the payment stands
    web.cookies.clear()
    from tests.support.accounts import STRONG, login

    await login(web, "ccas-castres", username, STRONG)
    await notify(web, bank_answer(backend.settings, fields))
    answered = await web.get(bank_url, headers=FR, follow_redirects=False)
    assert answered.status_code == 303 and answered.headers["location"] == bank_url.removesuffix(
        "/banque"
    )
