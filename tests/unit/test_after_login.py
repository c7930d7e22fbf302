"""Where signing in leads: the page asked for while signed out, if recent, safe and a page."""

from __future__ import annotations

import time


def test_where_sign_in_may_lead():
    from guichet.accounts.web import AFTER_LOGIN_FOR, after_login, page_of, return_path

    assert [return_path(p) for p in ("/mon-espace", "//evil.example", "/\\evil", "/a b")] == [
        True,
        False,
        False,
        False,
    ]
    assert page_of("/mon-espace/factures/1/pdf") == "/mon-espace/factures/1"
    assert page_of("/mon-espace/factures/1/recu/2") == "/mon-espace/factures/1"
    assert page_of("/mon-espace/photo") == "/mon-espace"
    now = time.time()
    assert after_login({"path": "/mon-espace/pieces/", "at": now}) == "/mon-espace/pieces/"
    stale = {"path": "/mon-espace/pieces/", "at": now - AFTER_LOGIN_FOR - 1}
    assert after_login(stale) == "/mon-espace"  # the next person at a shared computer
    assert after_login("/mon-espace/pieces/") == after_login(None) == "/mon-espace"
