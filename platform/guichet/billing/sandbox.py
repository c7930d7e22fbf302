"""The sandbox bank of the embedded default and the tests (never in production).

It looks like the guide's Paybox screens ("Résumé de la transaction", "CCAS CASTRES VADS",
"Choisissez votre moyen de paiement", then card number, expiry, CVV) and speaks the Systempay
v2 protocol that eopayment implements: it checks the signature of the request, then signs its
answer with the same HMAC-SHA-256, sends it server-to-server to ``vads_url_check`` and sends
the citizen back to ``vads_url_return``.

Test cards: 4970 1000 0000 0000 pays; 4970 1000 0000 0014 is refused; "Annuler" cancels.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import eopayment
import httpx
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from guichet.billing.backends import SANDBOX_SITE_ID, sandbox_secret
from guichet.i18n import gettext as _
from guichet.web.pages import render_page, services_of

__all__ = ["CARD_PAID", "CARD_REFUSED", "SandboxBankController", "sign"]

_KEPT = "sandbox-bank:"  # the merchant's request, in the shared store, for the attempt's time
KEPT_SECONDS = 30 * 60

log = logging.getLogger("guichet.sandbox")
CARD_PAID = "4970100000000000"
CARD_REFUSED = "4970100000000014"
METHODS = {"cb": "CB", "visa": "Visa", "mastercard": "Mastercard"}
_EXPIRY = re.compile(r"(0[1-9]|1[0-2])\s*/\s*(\d{2})")


def expiry_problem(text: str, today: date | None = None) -> str:
    """Why a card's end of validity (MM/AA) is refused; empty when it is good."""
    text = text.strip()
    if not text:
        return _("Indiquez la date de fin de validité.")
    found = _EXPIRY.fullmatch(text)
    if found is None:
        return _("Indiquez le mois puis l'année, sur deux chiffres chacun : par exemple 09/28.")
    today = today or date.today()
    month, year = int(found.group(1)), 2000 + int(found.group(2))
    if (year, month) < (today.year, today.month):
        return _("Cette carte n'est plus valable : sa date de fin de validité est passée.")
    return ""


def _backend(secret: str) -> Any:
    return eopayment.Payment(
        "systempayv2",
        {
            "secret_test": secret,
            "secret_production": secret,
            "signature_algo": "hmac_sha256",
            "vads_site_id": SANDBOX_SITE_ID,
        },
    ).backend


def sign(fields: dict[str, str], secret: str) -> str:
    """The signature the bank puts on its fields (the protocol's own algorithm)."""
    return str(_backend(secret).signature(dict(fields)))


def _vads(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if k.startswith("vads_") or k == "signature"}


class SandboxBankController(Controller):
    include_in_schema = False  # pages, not the JSON API
    path = "/sandbox/banque"

    def _secret(self, request: Request[Any, Any, Any]) -> str:
        settings = services_of(request).settings
        if settings.is_production:
            raise NotFoundException()
        return sandbox_secret(settings)

    @post("/", name="sandbox:bank")
    async def bank(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """The merchant's signed request: kept for the attempt's time, and the browser sent on
        to a page of its own (the browser's Back never lands on the answer to a POST)."""
        secret = self._secret(request)
        form = await request.form()
        fields = _vads(form)
        if not fields.get("signature") or sign(fields, secret) != fields["signature"]:
            return render_page(request, "sandbox/refused.html", status_code=400)
        token = secrets.token_urlsafe(18)
        await services_of(request).store.set(
            _KEPT + token, json.dumps(fields), expires_in=KEPT_SECONDS
        )
        method = str(form.get("method", ""))
        query = f"?moyen={method}" if method in METHODS else ""
        return Redirect(f"/sandbox/banque/{token}{query}", status_code=303)

    @get("/{token:str}", name="sandbox:bank_page")
    async def bank_page(
        self, request: Request[Any, Any, Any], token: FromPath[str]
    ) -> Response[Any]:
        """First the means of payment, then (``?moyen=cb``) the card."""
        self._secret(request)
        kept = await services_of(request).store.get(_KEPT + token[:40])
        if kept is None:
            return render_page(request, "sandbox/refused.html", status_code=404, expired=True)
        fields = json.loads(kept)
        method = str(request.query_params.get("moyen", ""))
        return render_page(
            request,
            "sandbox/bank.html",
            token=token[:40],
            fields=fields,
            amount_cents=int(fields.get("vads_amount", "0") or 0),
            method=method if method in METHODS else "",
            methods=METHODS,
            values={},
            errors={},
            headers={"Cache-Control": "no-store"},
        )

    @post("/payer", name="sandbox:pay")
    async def pay(self, request: Request[Any, Any, Any]) -> Response[Any]:
        secret = self._secret(request)
        form = await request.form()
        fields = _vads(form)
        if not fields.get("signature") or sign(fields, secret) != fields["signature"]:
            return render_page(request, "sandbox/refused.html", status_code=400)
        action = str(form.get("action", ""))
        card = "".join(c for c in str(form.get("card_number", "")) if c.isdigit())
        if action == "cancel":
            result = "17"
        else:
            errors = {}
            if card not in (CARD_PAID, CARD_REFUSED):
                errors["card_number"] = _("Numéro de carte inconnu de la banque de test.")
            if problem := expiry_problem(str(form.get("expiry", ""))):
                errors["expiry"] = problem
            cvv = str(form.get("cvv", "")).strip()
            if len(cvv) != 3 or not cvv.isdigit():
                errors["cvv"] = _("Le cryptogramme visuel compte 3 chiffres.")
            if errors:
                method = str(form.get("method", ""))
                return render_page(
                    request,
                    "sandbox/bank.html",
                    status_code=400,
                    fields=fields,
                    errors=errors,
                    method=method if method in METHODS else "cb",
                    methods=METHODS,
                    # what was typed stays, but the cryptogram (as a bank does)
                    values={
                        "card_number": str(form.get("card_number", ""))[:30],
                        "expiry": str(form.get("expiry", ""))[:10],
                    },
                    amount_cents=int(fields.get("vads_amount", "0") or 0),
                    headers={"Cache-Control": "no-store"},
                )
            result = "00" if card == CARD_PAID else "05"
        answer = {k: v for k, v in fields.items() if k != "signature"}
        answer.update(
            {
                "vads_result": result,
                "vads_auth_result": result if result in ("00", "05") else "",
                "vads_extra_result": "",
                "vads_trans_status": {"00": "AUTHORISED", "05": "REFUSED"}.get(result, "ABANDONED"),
                "vads_auth_number": "SBX001" if result == "00" else "",
                "vads_effective_creation_date": datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
                "vads_card_number": f"497010XXXXXX{card[-4:]}" if card else "",
            }
        )
        answer["signature"] = sign(answer, secret)
        await self._notify(answer)
        return Redirect(answer.get("vads_url_return") or "/", status_code=303)

    async def _notify(self, answer: dict[str, str]) -> None:
        url = answer.get("vads_url_check", "")
        if urlsplit(url).scheme not in ("http", "https"):
            return
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(url, data=answer)
            log.info("sandbox notification sent: HTTP %s", response.status_code)
        except httpx.HTTPError as exc:  # like a real bank: the merchant will reconcile
            log.warning("sandbox notification not delivered: %s", type(exc).__name__)
