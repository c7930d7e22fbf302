"""Access keys and link tokens: random values shown once, stored only as digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "KEY_ALPHABET",
    "generate_access_key",
    "key_digest",
    "new_token",
    "normalize_key",
    "token_digest",
]

# No 0/O, 1/I/L, 5/S, 2/Z: keys are read from paper by elderly people.
KEY_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"


def generate_access_key(groups: int = 3, size: int = 4) -> str:
    """E.g. ``K7MQ-T3XA-9RWD``: about 57 bits of randomness."""
    return "-".join(
        "".join(secrets.choice(KEY_ALPHABET) for _ in range(size)) for _ in range(groups)
    )


_LOOK_ALIKES = str.maketrans("OIL", "011")


def normalize_key(raw: str) -> str:
    """What a person typed, as stored: no spaces or dashes, upper case, look-alikes mapped."""
    text = "".join(c for c in raw.upper() if c.isalnum())
    return text.translate(_LOOK_ALIKES)


def key_digest(secret_key: str, tenant_id: str, raw_key: str) -> str:
    """HMAC of the normalized key, bound to the tenant: a key is valid only where issued."""
    message = f"{tenant_id}:{normalize_key(raw_key)}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
