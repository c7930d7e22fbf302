"""The second factor of staff and operators: TOTP (RFC 6238, 30-second steps, 6 digits), as
every authenticator application reads it from a QR code.

The shared secret is stored encrypted with a key derived from ``GUICHET_SECRET_KEY``; the last
step a code was accepted for is kept, so that a code is good once (no replay), and a code of the
step before or after is accepted (clocks drift).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from typing import Any

import pyotp
import segno
from cryptography.fernet import InvalidToken

from guichet.keyring import keyring, reencrypt

__all__ = [
    "check_code",
    "claim_step",
    "decrypt_secret",
    "encrypt_secret",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "reencrypt_secret",
]

STEP = 30


_PURPOSE = b"guichet-totp:"


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(secret_keys: str | Sequence[str], secret: str) -> str:
    return keyring(_PURPOSE, secret_keys).encrypt(secret.encode()).decode()


def reencrypt_secret(secret_keys: Sequence[str], token: str) -> str | None:
    """The secret encrypted with the current key (None: it already is)."""
    return reencrypt(_PURPOSE, secret_keys, token) if token else None


def decrypt_secret(secret_keys: str | Sequence[str], token: str) -> str:
    try:
        return keyring(_PURPOSE, secret_keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "a second-factor secret cannot be read with this secret key "
            "(was GUICHET_SECRET_KEY changed?)"
        ) from None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> str:
    """The QR code as inline SVG (no script, no image request)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title=title, border=2))


async def claim_step(session: Any, model: Any, user_id: Any, step: int) -> bool:
    """Record ``step`` as used, only if no later one was: of two sign-ins with the same code
    at once, one wins (a conditional UPDATE, atomic in the database)."""
    from sqlalchemy import update

    result = await session.execute(
        update(model)
        .where(model.id == user_id, model.totp_step < step)
        .values(totp_step=step)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def check_code(secret: str, code: str, last_step: int, at: float | None = None) -> int | None:
    """The step the code belongs to when it is right and not used before, else None."""
    digits = "".join(c for c in code if c in "0123456789")  # ASCII only (not ² nor ١)
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int((at if at is not None else time.time()) // STEP)
    for step in (current - 1, current, current + 1):
        if step > last_step and hmac.compare_digest(totp.at(step * STEP), digits):
            return step
    return None
