"""MES FACTURES with years of invoices: every invoice to pay and their total, the latest others in
the history, the rest year by year (a file billed every month for years made a page of
thousands of lines), and only the citizen's own, on both backends."""

import re
from datetime import date, timedelta
from html import unescape

import pytest

from tests.support.accounts import FR, new_citizen
from tests.support.billing import invoices_on

pytestmark = pytest.mark.asyncio(loop_scope="session")
URL = "/ccas-castres/mon-espace/factures/"


def text(response):
    return unescape(response.text)


def shown(page, numbers):
    """The numbers among ``numbers`` that the page links to, in the page's order."""
    found = re.findall(r'<span class="invoice-name">(\d+) - ', page)
    return [number for number in found if number in numbers]


@pytest.fixture(params=["few", "many"])
def first_look(request, monkeypatch):
    """Both ways MES FACTURES reads: every invoice at once (a citizen with a few dozen), or
    ranked by the database (past FIRST_LOOK, made small here)."""
    if request.param == "many":
        monkeypatch.setattr("guichet.billing.services.FIRST_LOOK", 10)
    return request.param


async def test_history_stops_at_the_latest_and_goes_on_year_by_year(web, backend, first_look):
    username, _email = await new_citizen(web, backend.settings)
    of_2025 = await invoices_on(
        backend.settings,
        username,
        [date(2025, 1, 3) + timedelta(days=9 * n) for n in range(20)],
        "reglee",
    )
    of_2024 = await invoices_on(
        backend.settings,
        username,
        [date(2024, 2, 1) + timedelta(days=20 * n) for n in range(10)],
        "reglee",
    )
    to_pay = await invoices_on(
        backend.settings,
        username,
        [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)],
        "non_reglee",
    )

    page = text(await web.get(URL, headers=FR))
    assert "Vous avez 3 factures non réglées" in page
    assert "Total à régler : 30,00\xa0€" in page
    assert shown(page, to_pay) == to_pay[::-1]  # newest first
    # the 24 latest settled ones, newest first: the 20 of 2025, then the 4 latest of 2024
    history = shown(page, of_2025 + of_2024)
    assert history == of_2025[::-1] + of_2024[::-1][:4]
    assert "Les 24 plus récentes. Les autres sont rangées par année, plus bas." in page
    assert "Toutes vos factures, année par année" in page
    # « Janvier 2020 », issued in December 2019, is under 2019: the page says why
    assert "Une facture est rangée à l'année où elle a été émise" in page
    years = re.findall(r'href="/ccas-castres/mon-espace/factures/\?annee=(\d{4})"', page)
    assert years == ["2026", "2025", "2024"]

    year = text(await web.get(URL + "?annee=2024", headers=FR))
    assert "MES FACTURES — 2024" in year
    assert shown(year, of_2024 + of_2025 + to_pay) == of_2024[::-1]  # every one, only 2024's
    assert 'annee=2024" aria-current="page"' in year
    assert f"-{date.today().year} CCAS de Castres</li>" in year  # the footer's year is today's
    assert year.count("Facture réglée : 10,00\xa0€") == 10

    # an unreadable year is the page without it; a year without invoices says so
    assert shown(text(await web.get(URL + "?annee=24x", headers=FR)), to_pay) == to_pay[::-1]
    assert "Aucune facture émise en 2031." in text(await web.get(URL + "?annee=2031", headers=FR))

    # another citizen sees none of them, in any year
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    for query in ("", "?annee=2024", "?annee=2025", "?annee=2026"):
        other = text(await web.get(URL + query, headers=FR))
        assert shown(other, of_2024 + of_2025 + to_pay) == [], query


async def test_a_short_history_is_whole_and_names_no_years(web, backend):
    username, _email = await new_citizen(web, backend.settings)
    settled = await invoices_on(
        backend.settings, username, [date(2024, 5, 1), date(2025, 5, 1)], "reglee"
    )
    [unpaid] = await invoices_on(backend.settings, username, [date(2026, 11, 2)], "non_reglee")
    page = text(await web.get(URL, headers=FR))
    assert shown(page, [*settled, unpaid]) == [unpaid, settled[1], settled[0]]
    assert "Vous avez 1 facture non réglée" in page
    assert "Total à régler" not in page  # one invoice: its own amount says it
    assert "plus récentes" not in page and "année par année" not in page
