"""Payment-backend credentials encrypted at rest (Fernet, key derived from the secret key).

The functions take the secret key, or the keys of a rotation (``settings.web.secret_keys``):
see :mod:`guichet.keyring`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import InvalidToken

from guichet.keyring import keyring, reencrypt

__all__ = ["decrypt_options", "encrypt_options", "reencrypt_options"]


_PURPOSE = b"guichet-ledger-options:"


def encrypt_options(secret_keys: str | Sequence[str], options: dict[str, Any]) -> str:
    data = json.dumps(options, sort_keys=True).encode()
    return keyring(_PURPOSE, secret_keys).encrypt(data).decode()


def decrypt_options(secret_keys: str | Sequence[str], token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return dict(json.loads(keyring(_PURPOSE, secret_keys).decrypt(token.encode())))
    except InvalidToken:
        raise ValueError(
            "the ledger's payment options cannot be read with this secret key "
            "(was GUICHET_SECRET_KEY changed?)"
        ) from None


def reencrypt_options(secret_keys: Sequence[str], token: str) -> str | None:
    return reencrypt(_PURPOSE, secret_keys, token) if token else None
