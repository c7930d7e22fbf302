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


def test_where_a_staff_member_s_sign_in_may_lead():
    from types import SimpleNamespace

    from guichet.accounts.web import AFTER_LOGIN_FOR
    from guichet.staff.models import StaffRole
    from guichet.staff.web import _after_sign_in

    agent = SimpleNamespace(role=StaffRole.AGENT)
    admin = SimpleNamespace(role=StaffRole.ADMIN)
    now = time.time()
    asked = {"path": "/agents/demandes/42", "at": now}
    assert _after_sign_in(asked, agent) == "/agents/demandes/42"
    assert _after_sign_in({"path": "/admin/contenus", "at": now}, admin) == "/admin/contenus"
    # nothing kept, too old, or a citizen's page: the member's own home
    assert _after_sign_in(None, agent) == "/agents/demandes/"
    assert _after_sign_in(None, admin) == "/admin/"
    stale = {"path": "/agents/demandes/42", "at": now - AFTER_LOGIN_FOR - 1}
    assert _after_sign_in(stale, admin) == "/admin/"
    assert _after_sign_in({"path": "/mon-espace/factures/", "at": now}, agent) == (
        "/agents/demandes/"
    )
    assert _after_sign_in({"path": "//evil.example/admin", "at": now}, admin) == "/admin/"
