"""Payment-backend credentials encrypted at rest (Fernet, key derived from the secret key)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["decrypt_options", "encrypt_options"]


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"guichet-ledger-options:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_options(secret_key: str, options: dict[str, Any]) -> str:
    return _fernet(secret_key).encrypt(json.dumps(options, sort_keys=True).encode()).decode()


def decrypt_options(secret_key: str, token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return dict(json.loads(_fernet(secret_key).decrypt(token.encode())))
    except InvalidToken:
        raise ValueError(
            "the ledger's payment options cannot be read with this secret key "
            "(was GUICHET_SECRET_KEY changed?)"
        ) from None
