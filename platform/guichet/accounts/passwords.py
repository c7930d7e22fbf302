"""Passwords: argon2id hashes, the tenant's policy spelled out as the guide does, and a refusal of
common passwords (a shipped list)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from guichet.i18n import gettext as _
from guichet.tenancy.snapshot import PasswordPolicy
from guichet.text import ascii_fold

__all__ = [
    "check_password",
    "dummy_hash",
    "hash_password",
    "policy_hint",
    "policy_text",
    "verify_password",
]

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"
SPECIALS = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; costs the same time when there is no account."""
    try:
        return _hasher.verify(password_hash or dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """Checked against when there is no account. Made once, not at import: a hash costs about
    a tenth of a second, which every command would pay at start; the web process makes it as it
    starts (``create_app``), so that its first unknown sign-in costs what the others do."""
    return _hasher.hash("not-a-real-password-but-same-cost")


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _common() -> frozenset[str]:
    if not COMMON_PASSWORDS.is_file():
        return frozenset()
    return frozenset(
        line.strip().lower() for line in COMMON_PASSWORDS.read_text("utf-8").splitlines() if line
    )


def policy_text(policy: PasswordPolicy) -> str:
    """ "Le mot de passe doit contenir au minimum 8 caractère(s) dont au moins : 1 minuscule(s),
    1 chiffre(s)" — the guide's own wording."""
    parts = []
    if policy.min_lowercase:
        parts.append(_("%(n)s minuscule(s)", n=policy.min_lowercase))
    if policy.min_uppercase:
        parts.append(_("%(n)s majuscule(s)", n=policy.min_uppercase))
    if policy.min_digits:
        parts.append(_("%(n)s chiffre(s)", n=policy.min_digits))
    if policy.min_special:
        parts.append(_("%(n)s caractère(s) spécial(aux)", n=policy.min_special))
    text = _("Le mot de passe doit contenir au minimum %(n)s caractère(s)", n=policy.min_length)
    if parts:
        text += _(" dont au moins : ") + ", ".join(parts)
    return text


def policy_hint(policy: PasswordPolicy) -> str:
    """The rules shown under a new password's field: the guide's sentence, then the checks it
    does not name, so that nobody learns them only from a refusal."""
    return (
        policy_text(policy)
        + ". "
        + _(
            "Il ne doit contenir ni vos nom et prénom ni votre nom d'utilisateur, ni être un "
            "mot de passe trop courant (comme « motdepasse1 »)."
        )
    )


def check_password(
    password: str, policy: PasswordPolicy, personal: list[str] | None = None
) -> list[str]:
    """What is wrong with ``password`` under ``policy`` (empty: acceptable)."""
    problems: list[str] = []
    lower = sum(1 for c in password if c.islower())
    upper = sum(1 for c in password if c.isupper())
    digits = sum(1 for c in password if c.isdigit())
    special = sum(1 for c in password if c in SPECIALS or not c.isalnum())
    missing = (
        len(password) < policy.min_length
        or lower < policy.min_lowercase
        or upper < policy.min_uppercase
        or digits < policy.min_digits
        or special < policy.min_special
    )
    if missing:
        problems.append(policy_text(policy) + ".")
    if len(password) > 256:
        problems.append(_("Le mot de passe ne doit pas dépasser 256 caractères."))
    folded = ascii_fold(password)
    if folded in _common() or (folded.rstrip("0123456789!.") in _common() and len(folded) < 12):
        problems.append(
            _("Ce mot de passe est trop courant et facile à deviner : choisissez-en un autre.")
        )
    for word in personal or []:
        word = ascii_fold(word)
        if len(word) >= 4 and word in folded:
            problems.append(
                _("Le mot de passe ne doit pas contenir votre nom ou votre nom d'utilisateur.")
            )
            break
    return problems
