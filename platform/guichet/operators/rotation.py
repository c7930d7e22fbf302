"""Moving what is encrypted at rest to a new ``GUICHET_SECRET_KEY`` (``guichet secrets
reencrypt``): the ledgers' bank options and the second-factor secrets of staff and operators.

Access keys cannot be moved here: only their HMAC is stored. A key issued under a previous
secret key moves when it is used (:meth:`AccountService.find_service_account`) while that key
stays in ``GUICHET_PREVIOUS_SECRET_KEYS``; the report counts the service files whose key has not
been used yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import ServiceAccount
from guichet.billing.crypto import reencrypt_options
from guichet.billing.models import Ledger
from guichet.staff import twofactor
from guichet.staff.models import Operator, StaffUser
from guichet.tenancy.models import Tenant

__all__ = ["RotationReport", "reencrypt_all"]


@dataclass
class RotationReport:
    ledgers: int = 0
    staff: int = 0
    operators: int = 0
    unreadable: list[str] = field(default_factory=list)  # read by no key of the rotation
    keys_not_used: int = 0  # service files not linked yet: their key needs the previous one


async def reencrypt_all(session: AsyncSession, secret_keys: tuple[str, ...]) -> RotationReport:
    """Re-encrypt with ``secret_keys[0]`` what a previous key encrypted (not committed);
    ``session`` is opened for all tenants."""
    report = RotationReport()
    slugs = dict((await session.execute(select(Tenant.id, Tenant.slug))).tuples().all())
    for ledger in (await session.execute(select(Ledger))).scalars():
        try:
            moved = reencrypt_options(secret_keys, ledger.backend_options)
        except InvalidToken:
            report.unreadable.append(f"ledger {slugs.get(ledger.tenant_id)}/{ledger.code}")
            continue
        if moved is not None:
            ledger.backend_options = moved
            report.ledgers += 1
    users: list[tuple[str, StaffUser | Operator]] = [
        *(("staff", u) for u in (await session.execute(select(StaffUser))).scalars()),
        *(("operator", u) for u in (await session.execute(select(Operator))).scalars()),
    ]
    for label, user in users:
        try:
            moved = twofactor.reencrypt_secret(secret_keys, user.totp_secret)
        except InvalidToken:
            report.unreadable.append(f"{label} {user.email}")
            continue
        if moved is not None:
            user.totp_secret = moved
            if label == "staff":
                report.staff += 1
            else:
                report.operators += 1
    report.keys_not_used = int(
        await session.scalar(
            select(func.count())
            .select_from(ServiceAccount)
            .where(ServiceAccount.citizen_id.is_(None))
        )
        or 0
    )
    return report
