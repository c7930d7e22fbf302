"""The most characters each form field takes, by the field's name, as the server reads it.

The form macro (`partials/forms.html`) sets them as ``maxlength``: a browser stops the typing
there, where the server would otherwise cut what was typed without a word. Only names with one
limit wherever they appear are listed (a unit test reads the code's limits and compares)."""

from __future__ import annotations

__all__ = ["FIELD_LIMITS"]

FIELD_LIMITS = {
    # the citizen's space and the wizard
    "username": 64,
    "login": 254,
    "email": 254,
    "last_name": 100,
    "birth_name": 100,
    "first_names": 150,
    "birth_commune": 100,
    "street_number": 10,
    "street_number_suffix": 10,
    "street_name": 150,
    "building": 100,
    "apartment": 50,
    "address_complement": 150,
    "postcode": 10,
    "city": 100,
    "phone": 30,
    "mobile": 30,
    "fax": 30,
    # a request made without an account
    "_name": 200,
    "_email": 254,
    # the staff's pages
    "name": 200,  # a tenant's, a service's, a ledger's, a member's name
    "holder_name": 200,
    "short_name": 100,
    "tagline": 200,
    "logo_alt": 200,
    "contact_phone": 40,
    "contact_email": 200,
    "contact_hours": 200,
    "main_site_url": 300,
    "welcome_title": 200,
    "news_title": 200,
    "terms_title": 200,
    "merchant_label": 100,
    "cheque_payee": 200,
    "label": 200,
    "hint": 300,
    "key": 40,
    "doc_key": 40,
    "doc_label": 200,
    "reason": 300,
}
