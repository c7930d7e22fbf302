"""Encryption keys derived from ``GUICHET_SECRET_KEY``, one per purpose, and their rotation.

During a rotation the settings hold the new key and the previous ones
(``GUICHET_PREVIOUS_SECRET_KEYS``): the first encrypts, every one decrypts, and
``guichet secrets reencrypt`` moves what is stored to the new key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["keyring", "reencrypt"]


def keyring(purpose: bytes, secret_keys: str | Sequence[str]) -> MultiFernet:
    """Fernet keys derived for one purpose from the secret key(s), the current one first."""
    keys = (secret_keys,) if isinstance(secret_keys, str) else tuple(secret_keys)
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(purpose + k.encode()).digest()))
            for k in keys
        ]
    )


def reencrypt(purpose: bytes, secret_keys: Sequence[str], token: str) -> str | None:
    """``token`` encrypted with the current key, or None when it already is (InvalidToken when
    no key of the rotation reads it)."""
    try:
        keyring(purpose, secret_keys[0]).decrypt(token.encode())
        return None
    except InvalidToken:
        return keyring(purpose, secret_keys).rotate(token.encode()).decode()
