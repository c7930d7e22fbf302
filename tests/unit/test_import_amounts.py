"""Prices read from imported invoices: euros in ``unit_price``, whole cents in ``unit_cents``."""

import pytest

from guichet.billing.imports import _cents


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("8,53", 853),
        ("8.53", 853),
        (8.53, 853),
        (8, 800),  # a JSON number in unit_price is euros, never cents
        ("8", 800),
        ("1 234,50 €", 123450),
        ("0", 0),
        (0, 0),
        ("10.019", None),  # never truncated to 10.01
        (8.5, 850),
        ("Infinity", None),
        ("NaN", None),
        ("sNaN", None),
        ("1e30", None),
        (1e30, None),
        ("9" * 5000, None),
        ("abc", None),
        (None, None),
        (True, None),
    ],
)
def test_unit_price_is_in_euros(value, cents):
    assert _cents(value) == cents


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (853, 853),
        ("853", 853),
        ("8,53", None),
        (8.53, None),
        (853.0, 853),  # JSON Schema's integers include 853.0
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        ("²", None),  # str.isdigit() says yes, int() says no
        ("9" * 5000, None),
    ],
)
def test_unit_cents_is_a_whole_number_of_cents(value, cents):
    assert _cents(value, in_cents=True) == cents


@pytest.mark.asyncio
async def test_a_strange_quantity_is_refused_on_its_line_not_a_crash():
    from guichet.billing.imports import ImportReport, _validate

    report = ImportReport()
    raw = {
        "ledger": "seniors",
        "number": "1",
        "service": "s",
        "reference": "r",
        "label": "l",
        "issue_date": "2020-01-01",
        "due_date": "2020-02-01",
        "lines": [
            {"label": "a", "quantity": "²", "unit_price": "1"},
            {"label": "b", "quantity": 1, "unit_price": "Infinity"},
        ],
    }
    assert _validate(0, raw, report) is None
    assert {e["field"] for e in report.errors} == {"lines[1].quantity", "lines[2].unit_price"}


def test_a_csv_invoice_may_carry_its_postal_address():
    from guichet.billing.imports import parse_csv

    header = (
        "ledger;number;service;reference;label;issue_date;due_date;line_label;quantity;"
        "unit_price;recipient_address\n"
    )
    rows = (
        "seniors;7001;action-sociale;AS-1;Mars 2020;2020-03-17;2020-04-15;Repas;1;8,53;"
        "2 rue Sabatier | 81100 CASTRES\n"
        "seniors;7002;action-sociale;AS-2;Mars 2020;2020-03-17;2020-04-15;Repas;1;8,53;\n"
    )
    invoices, problems, lines = parse_csv((header + rows).encode())
    assert problems == [] and lines == [[2], [3]]
    assert [i["recipient_address"] for i in invoices] == ["2 rue Sabatier | 81100 CASTRES", ""]
    # without the column, nothing changes
    old = header.replace(";recipient_address", "") + rows.replace(
        ";2 rue Sabatier | 81100 CASTRES", ""
    ).replace(";\n", "\n")
    invoices, problems, _lines = parse_csv(old.encode())
    assert problems == [] and [i["recipient_address"] for i in invoices] == ["", ""]
