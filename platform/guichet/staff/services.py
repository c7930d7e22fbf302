"""Staff accounts: creation (CLI until the back-office's invitations), invitations, sign-in, a
forgotten password and an administrator's reset of a member's access."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.passwords import hash_password, needs_rehash, verify_password
from guichet.staff.models import StaffRepository, StaffRole, StaffUser
from guichet.tenancy.snapshot import PasswordPolicy

__all__ = ["INVITATION_DAYS", "RESET_VALID", "STAFF_POLICY", "StaffService"]

# Staff reach every citizen's requests and invoices: a longer password than citizens'.
STAFF_POLICY = PasswordPolicy(min_length=12, min_lowercase=1, min_uppercase=1, min_digits=1)
INVITATION_DAYS = 7
RESET_VALID = timedelta(hours=1)  # a forgotten password's link


class StaffService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.repository = StaffRepository(session=session, tenant_id=tenant_id)

    async def get(self, staff_id: uuid.UUID) -> StaffUser | None:
        return await self.repository.get_one_or_none(id=staff_id)

    async def by_email(self, email: str) -> StaffUser | None:
        return await self.repository.get_one_or_none(email=email.strip().lower())

    async def assignable(self) -> list[StaffUser]:
        """Who a request can be given to: active members who opened their space (invitation
        accepted) and whose role opens the requests (administrators and agents)."""
        return [
            user
            for user in await self.active()
            if user.password_hash and user.role in (StaffRole.ADMIN, StaffRole.AGENT)
        ]

    async def active(self) -> list[StaffUser]:
        return list(
            await self.repository.get_many(
                StaffUser.active.is_(True), order_by=[(StaffUser.name, False)]
            )
        )

    async def create(self, email: str, name: str, role: StaffRole, password: str) -> StaffUser:
        user = StaffUser(
            email=email.strip().lower(),
            name=name.strip(),
            role=role,
            password_hash=await asyncio.to_thread(hash_password, password),
        )
        return await self.repository.add(user)

    async def by_invitation(self, token_hash: str) -> StaffUser | None:
        user = await self.repository.get_one_or_none(invite_hash=token_hash)
        if (
            user is None
            or not user.active
            or user.invite_expires_at is None
            or user.invite_expires_at < datetime.now(UTC)
        ):
            return None
        return user

    async def invite(self, email: str, name: str, role: StaffRole) -> tuple[StaffUser, str]:
        """A staff member who chooses a password by the emailed link (valid seven days);
        returns the token for the link (only its hash is kept)."""
        user = await self.by_email(email)
        if user is None:
            user = StaffUser(
                email=email.strip().lower(), name=name.strip(), role=role, password_hash=""
            )
            user = await self.repository.add(user)
        else:  # invited again before accepting: the new name and role hold, and it is active
            user.name, user.role, user.active = name.strip(), role, True
        return user, self._link(user, timedelta(days=INVITATION_DAYS))

    def _link(self, user: StaffUser, valid: timedelta) -> str:
        """A new link to choose a password (the one before stops working); returns its token
        (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        user.invite_hash = hashlib.sha256(token.encode()).hexdigest()
        user.invite_expires_at = datetime.now(UTC) + valid
        return token

    async def request_reset(self, email: str) -> tuple[StaffUser, str] | None:
        """A forgotten password: a link valid an hour for an active member who has a password
        and a second factor (an invitation not yet accepted, or a second factor never enrolled,
        is for an administrator to reset). The password and the second factor stay as they are
        until the link is used, and the second factor is still asked after it: a mailbox alone
        opens nothing."""
        user = await self.by_email(email) if email else None
        if user is None or not user.active or not user.password_hash or not user.totp_secret:
            return None  # no second factor yet: the mailbox alone would open the account
        return user, self._link(user, RESET_VALID)

    def reset_access(self, user: StaffUser) -> str:
        """An administrator's reset for a member who lost their password or their phone: the
        password and the second factor are erased, every session ends, and the member chooses
        a password and enrols a new authenticator by the link (valid seven days)."""
        user.password_hash = ""
        user.totp_secret = ""
        user.totp_step = 0
        user.session_epoch += 1
        return self._link(user, timedelta(days=INVITATION_DAYS))

    async def authenticate(self, email: str, password: str) -> StaffUser | None:
        """The active staff member with these credentials, or None (similar time either way)."""
        user = await self.by_email(email) if email else None
        if user is None or not user.active:
            await asyncio.to_thread(verify_password, None, password)
            return None
        if not await asyncio.to_thread(verify_password, user.password_hash, password):
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(hash_password, password)
        user.last_login_at = datetime.now(UTC)
        return user
