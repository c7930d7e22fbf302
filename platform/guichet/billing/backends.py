"""Payment backends through ``eopayment``, configured per ledger.

``sandbox`` is the embedded default and the tests' bank: eopayment's real ``systempayv2``
protocol (HMAC-SHA-256 signed fields) pointed at the platform's simulated bank page
(``/sandbox/banque``), whose secret is derived from ``GUICHET_SECRET_KEY``. The real backends
(``paybox``, ``payfip_ws``, ``systempayv2``) take their options from the ledger, encrypted.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import eopayment

from guichet.billing.crypto import decrypt_options
from guichet.billing.models import Ledger
from guichet.settings import Settings

__all__ = ["BANK_NAMES", "REAL_BACKENDS", "SANDBOX_SITE_ID", "backend_for", "sandbox_secret"]

SANDBOX_SITE_ID = "12345678"
REAL_BACKENDS = {"paybox", "payfip_ws", "systempayv2"}
# the name a citizen or an agent knows each bank by (the sandbox imitates the guide's Paybox)
BANK_NAMES = {
    "sandbox": "Paybox",
    "paybox": "Paybox",
    "payfip_ws": "PayFiP",
    "systempayv2": "Systempay",
}
# eopayment's sign() logs keys at DEBUG: its logger never goes below INFO (see web/logs.py).
_eopayment_log = logging.getLogger("eopayment")


def sandbox_secret(settings: Settings) -> str:
    return hashlib.sha256(b"guichet-sandbox-bank:" + settings.web.secret_key.encode()).hexdigest()


def backend_for(
    ledger: Ledger, settings: Settings, normal_return_url: str, automatic_return_url: str
) -> eopayment.Payment:
    if ledger.backend == "sandbox":
        if settings.is_production:
            raise ValueError("the sandbox bank is refused in production mode")
        origin = normal_return_url.split("/", 3)
        options: dict[str, Any] = {
            "service_url": f"{origin[0]}//{origin[2]}/sandbox/banque",
            "vads_site_id": SANDBOX_SITE_ID,
            "secret_test": sandbox_secret(settings),
            "secret_production": sandbox_secret(settings),
            "signature_algo": "hmac_sha256",
            "vads_ctx_mode": "TEST",
        }
        kind = "systempayv2"
    elif ledger.backend in REAL_BACKENDS:
        options = decrypt_options(settings.web.secret_keys, ledger.backend_options)
        kind = ledger.backend
    else:
        raise ValueError(f"unknown payment backend {ledger.backend!r}")
    options["normal_return_url"] = normal_return_url
    options["automatic_return_url"] = automatic_return_url
    return eopayment.Payment(kind, options, logger=_eopayment_log)
