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
        ("abc", None),
        (None, None),
        (True, None),
    ],
)
def test_unit_price_is_in_euros(value, cents):
    assert _cents(value) == cents


@pytest.mark.parametrize(
    ("value", "cents"), [(853, 853), ("853", 853), ("8,53", None), (8.53, None), (True, None)]
)
def test_unit_cents_is_a_whole_number_of_cents(value, cents):
    assert _cents(value, in_cents=True) == cents
