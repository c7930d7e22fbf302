"""Business rules of citizen accounts. No HTTP here: controllers parse, call, render.

Every method works inside one tenant, through tenant-bound repositories and a session opened for
that tenant.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.forms import clean_username
from guichet.accounts.models import (
    AccountToken,
    Citizen,
    CitizenEvent,
    CitizenStatus,
    ServiceAccount,
    TokenPurpose,
)
from guichet.accounts.passwords import hash_password, needs_rehash, verify_password
from guichet.accounts.secrets import key_digest, new_token, token_digest
from guichet.db.repository import TenantRepository, lazy_repository
from guichet.notifications.models import OutboxMessage
from guichet.notifications.services import queue_email
from guichet.portal.services import CURRENT_TERMS
from guichet.settings import Settings
from guichet.tenancy.models import Service, TermsVersion
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.text import ascii_fold
from guichet.web.templates import TemplateRenderer

__all__ = [
    "ACTIVATION_TTL",
    "RESET_TTL",
    "AccountService",
    "CitizenRepository",
    "KeyProblem",
    "ServiceAccountRepository",
    "username_key",
]

ACTIVATION_TTL = timedelta(hours=48)
RESET_TTL = timedelta(hours=1)
EMAIL_CHANGE_TTL = timedelta(hours=48)

# The statements of every page behind login, built once with bound parameters: building
# ``column == value`` through the uuid type and the statement's cache key on each request was
# about a fifth of MON ACCUEIL's CPU (bench/README.md). The tenant is always a parameter.
_CITIZEN = select(Citizen).where(
    Citizen.tenant_id == bindparam("tenant_id"), Citizen.id == bindparam("citizen_id")
)
# The signed-in citizen and the version of the CGU in force, in one statement: every page
# behind login needs both (the CGU gate), and the second statement cost about 5 % of a page.
_CITIZEN_AND_TERMS = select(
    Citizen,
    select(func.max(TermsVersion.version))
    .where(TermsVersion.tenant_id == bindparam("tenant_id"))
    .scalar_subquery(),
).where(Citizen.tenant_id == bindparam("tenant_id"), Citizen.id == bindparam("citizen_id"))
_LINKED = (
    select(ServiceAccount, Service)
    .join(Service, Service.id == ServiceAccount.service_id)
    .where(
        ServiceAccount.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
    )
    .order_by(Service.name)
)


def _ascii_username(text: str) -> str:
    """``Cécile.Alquier`` → ``cecile.alquier``: what the username rule accepts."""
    folded = ascii_fold(text)
    return "".join(c for c in folded if c.isalnum() or c in "._-").strip("._-")[:60]


def username_key(username: str) -> str:
    return username.strip().casefold()


def now() -> datetime:
    return datetime.now(UTC)


class CitizenRepository(TenantRepository[Citizen]):
    model_type = Citizen


class ServiceAccountRepository(TenantRepository[ServiceAccount]):
    model_type = ServiceAccount


class TokenRepository(TenantRepository[AccountToken]):
    model_type = AccountToken


class ServiceRepository(TenantRepository[Service]):
    model_type = Service


class EventRepository(TenantRepository[CitizenEvent]):
    model_type = CitizenEvent


@dataclass
class KeyProblem:
    service_code: str
    message: str


class AccountService:
    citizens = lazy_repository(CitizenRepository)
    service_accounts = lazy_repository(ServiceAccountRepository)
    tokens = lazy_repository(TokenRepository)
    services = lazy_repository(ServiceRepository)
    events = lazy_repository(EventRepository)

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantSnapshot,
        settings: Settings,
        renderer: TemplateRenderer,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.settings = settings
        self.renderer = renderer
        self.queued: list[uuid.UUID] = []

    # -- lookups ---------------------------------------------------------------------------
    async def by_username(self, username: str) -> Citizen | None:
        return await self.citizens.get_one_or_none(username_key=username_key(username))

    async def get(self, citizen_id: uuid.UUID) -> Citizen | None:
        parameters = {"tenant_id": self.tenant.id, "citizen_id": citizen_id}
        return (await self.session.execute(_CITIZEN, parameters)).scalar_one_or_none()

    async def signed_in(self, citizen_id: uuid.UUID) -> tuple[Citizen | None, int | None]:
        """The citizen, and the version of the CGU in force (None: none published yet)."""
        parameters = {"tenant_id": self.tenant.id, "citizen_id": citizen_id}
        row = (await self.session.execute(_CITIZEN_AND_TERMS, parameters)).one_or_none()
        return (row[0], row[1]) if row is not None else (None, None)

    async def username_taken(self, username: str) -> bool:
        return await self.citizens.exists(username_key=username_key(username))

    async def suggest_usernames(self, wanted: str, first: str = "", last: str = "") -> list[str]:
        """Up to three free usernames close to ``wanted``."""
        base = _ascii_username(wanted) or "usager"
        candidates: list[str] = []
        names = [n for n in (first.split(" ")[0], last.split(" ")[0]) if n]
        if len(names) == 2:
            candidates.append(_ascii_username(f"{names[0]}.{names[1]}"))
        year = date.today().year
        candidates += [f"{base}{n}" for n in range(2, 10)] + [f"{base}.{year}", f"{base}81"]
        free: list[str] = []
        for candidate in candidates:
            if (
                clean_username(candidate) is None
                and candidate not in free
                and not await self.username_taken(candidate)
            ):
                free.append(candidate)
            if len(free) == 3:
                break
        return free

    async def active_services(self) -> list[Service]:
        return list(await self.services.get_many(order_by=[(Service.name, False)]))

    async def current_terms(self) -> TermsVersion | None:
        parameters = {"tenant_id": self.tenant.id}
        return (await self.session.execute(CURRENT_TERMS, parameters)).scalar_one_or_none()

    # -- access keys ---------------------------------------------------------------------------
    async def find_service_account(self, service: Service, raw_key: str) -> ServiceAccount | None:
        # the current key's digest first; during a rotation, a key issued under a previous
        # secret key still opens, and its digest moves to the current key
        digests = [
            key_digest(secret, str(self.tenant.id), raw_key)
            for secret in self.settings.web.secret_keys
        ]
        account = await self.service_accounts.get_one_or_none(
            ServiceAccount.key_digest.in_(digests)
        )
        if account is None or account.service_id != service.id:
            return None
        if account.key_digest != digests[0]:
            account.key_digest = digests[0]
        return account

    async def check_keys(
        self, keys: dict[str, str], citizen_id: uuid.UUID | None = None
    ) -> tuple[list[ServiceAccount], list[KeyProblem]]:
        """The service accounts that ``keys`` (service code → key) open, or why not."""
        services = {s.code: s for s in await self.active_services()}
        found: list[ServiceAccount] = []
        problems: list[KeyProblem] = []
        for code, raw in keys.items():
            if not raw.strip():
                continue
            service = services.get(code)
            account = await self.find_service_account(service, raw) if service else None
            if account is None:
                problems.append(KeyProblem(code, "unknown"))
            elif account.citizen_id is not None and account.citizen_id != citizen_id:
                problems.append(KeyProblem(code, "taken"))
            else:
                found.append(account)
        return found, problems

    async def link_service_accounts(
        self, citizen: Citizen, accounts: list[ServiceAccount], ip: str = ""
    ) -> None:
        for account in accounts:
            account.citizen_id = citizen.id
            account.linked_at = now()
            self.record(
                citizen,
                "service_linked",
                {"service_id": str(account.service_id), "reference": account.reference},
                ip,
            )

    async def linked_accounts(self, citizen: Citizen) -> list[tuple[ServiceAccount, Service]]:
        parameters = {"tenant_id": self.tenant.id, "citizen_id": citizen.id}
        return [(a, s) for a, s in (await self.session.execute(_LINKED, parameters)).all()]

    # -- history -------------------------------------------------------------------------------
    def record(
        self, citizen: Citizen | None, kind: str, detail: dict[str, Any] | None = None, ip: str = ""
    ) -> None:
        self.session.add(
            CitizenEvent(
                tenant_id=self.tenant.id,
                citizen_id=citizen.id if citizen else None,
                kind=kind,
                detail=detail or {},
                ip=ip[:45],
            )
        )

    # -- emails --------------------------------------------------------------------------------
    def email(self, kind: str, recipient: str, locale: str, **context: Any) -> OutboxMessage:
        message = queue_email(
            self.session,
            self.renderer,
            self.settings,
            self.tenant,
            kind=kind,
            recipient=recipient,
            locale=locale,
            context=context,
        )
        self.queued.append(message.id)
        return message

    async def _issue_token(
        self,
        citizen: Citizen,
        purpose: TokenPurpose,
        ttl: timedelta,
        payload: dict[str, Any] | None = None,
    ) -> str:
        # A new link replaces any earlier unused one of the same purpose.
        for old in await self.tokens.get_many(
            AccountToken.citizen_id == citizen.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        ):
            old.used_at = now()
        token = new_token()
        await self.tokens.add(
            AccountToken(
                citizen_id=citizen.id,
                purpose=purpose,
                token_digest=token_digest(token),
                expires_at=now() + ttl,
                payload=payload or {},
            )
        )
        return token

    async def _valid_token(self, token: str, purpose: TokenPurpose) -> AccountToken | None:
        record = await self.tokens.get_one_or_none(token_digest=token_digest(token))
        if record is None or record.purpose != purpose or record.used_at is not None:
            return None
        expires = (
            record.expires_at if record.expires_at.tzinfo else record.expires_at.replace(tzinfo=UTC)
        )
        if expires <= now():
            return None
        return record

    async def token_state(self, token: str, purpose: TokenPurpose) -> str:
        """valid, used, expired or unknown (to explain a link that no longer works)."""
        record = await self.tokens.get_one_or_none(token_digest=token_digest(token))
        if record is None or record.purpose != purpose:
            return "unknown"
        if record.used_at is not None:
            return "used"
        expires = (
            record.expires_at if record.expires_at.tzinfo else record.expires_at.replace(tzinfo=UTC)
        )
        return "expired" if expires <= now() else "valid"

    # -- creation and activation ---------------------------------------------------------------
    async def create_account(
        self,
        values: dict[str, Any],
        password: str,
        accounts: list[ServiceAccount],
        terms_version: int,
        locale: str,
        ip: str = "",
    ) -> Citizen:
        birth = values.get("birth_date") or ""
        citizen = Citizen(
            username=values["username"],
            username_key=username_key(values["username"]),
            password_hash=await asyncio.to_thread(hash_password, password),
            status=CitizenStatus.PENDING,
            civility=values["civility"],
            last_name=values["last_name"],
            birth_name=values.get("birth_name", ""),
            first_names=values["first_names"],
            birth_date=date.fromisoformat(birth) if birth else None,
            birth_country=values.get("birth_country", ""),
            birth_department=values.get("birth_department", ""),
            birth_commune=values.get("birth_commune", ""),
            photo_file=values.get("photo_file", ""),
            street_number=values.get("street_number", ""),
            street_number_suffix=values.get("street_number_suffix", ""),
            street_name=values.get("street_name", ""),
            building=values.get("building", ""),
            apartment=values.get("apartment", ""),
            address_complement=values.get("address_complement", ""),
            postcode=values.get("postcode", ""),
            city=values.get("city", ""),
            country=values.get("country", "FR") or "FR",
            phone=values.get("phone", ""),
            mobile=values.get("mobile", ""),
            fax=values.get("fax", ""),
            email=values["email"],
            preferred_contact=values.get("preferred_contact", "email"),
            locale=locale,
            terms_version=terms_version,
            terms_accepted_at=now(),
        )
        await self.citizens.add(citizen)
        await self.link_service_accounts(citizen, accounts, ip)
        self.record(citizen, "created", {"terms_version": terms_version}, ip)
        await self.send_activation(citizen)
        return citizen

    async def send_activation(self, citizen: Citizen) -> None:
        token = await self._issue_token(citizen, TokenPurpose.ACTIVATION, ACTIVATION_TTL)
        self.email(
            "activation",
            citizen.email,
            citizen.locale,
            citizen=citizen,
            link=f"{self.settings.web.public_url}/{self.tenant.slug}/activer/{token}",
            hours=int(ACTIVATION_TTL.total_seconds() // 3600),
        )

    async def resend_activation(self, login: str) -> None:
        """Send a new activation link if ``login`` (username or email) names a pending account;
        the caller answers the same whatever happens."""
        citizen = await self.by_username(login)
        if citizen is None and "@" in login:
            matches = await self.citizens.get_many(
                Citizen.email == login.strip(), Citizen.status == CitizenStatus.PENDING
            )
            citizen = matches[0] if len(matches) == 1 else None
        if citizen is not None and citizen.status == CitizenStatus.PENDING:
            await self.send_activation(citizen)

    async def activate(self, token: str, ip: str = "") -> Citizen | None:
        record = await self._valid_token(token, TokenPurpose.ACTIVATION)
        if record is None:
            return None
        citizen = await self.get(record.citizen_id)
        if citizen is None or citizen.status != CitizenStatus.PENDING:
            return None
        record.used_at = now()
        citizen.status = CitizenStatus.ACTIVE
        citizen.activated_at = now()
        self.record(citizen, "activated", {}, ip)
        return citizen

    # -- login -------------------------------------------------------------------------------
    async def authenticate(self, username: str, password: str) -> Citizen | None:
        """The citizen whose credentials these are (any status), or None; similar time either
        way (a dummy hash is verified when the username is unknown)."""
        citizen = await self.by_username(username) if username else None
        if citizen is None or citizen.status == CitizenStatus.DELETED:
            await asyncio.to_thread(verify_password, None, password)
            return None
        if not await asyncio.to_thread(verify_password, citizen.password_hash, password):
            return None
        if needs_rehash(citizen.password_hash):
            citizen.password_hash = await asyncio.to_thread(hash_password, password)
        return citizen

    def logged_in(self, citizen: Citizen, ip: str) -> None:
        citizen.last_login_at = now()
        self.record(citizen, "login", {}, ip)

    async def accept_terms(self, citizen: Citizen, version: int, ip: str = "") -> None:
        citizen.terms_version = version
        citizen.terms_accepted_at = now()
        self.record(citizen, "terms_accepted", {"version": version}, ip)

    # -- recovery ------------------------------------------------------------------------------
    async def request_reset(self, login: str) -> None:
        """Send a reset link to each active account that ``login`` names (a username, or an email
        address that a household may share); silent otherwise."""
        citizen = await self.by_username(login)
        if citizen is not None and citizen.status == CitizenStatus.ACTIVE:
            targets = [citizen]
        elif "@" in login:
            targets = list(
                await self.citizens.get_many(
                    Citizen.email == login.strip(), Citizen.status == CitizenStatus.ACTIVE
                )
            )[:5]
        else:
            targets = []
        for target in targets:
            token = await self._issue_token(target, TokenPurpose.PASSWORD_RESET, RESET_TTL)
            self.email(
                "password_reset",
                target.email,
                target.locale,
                citizen=target,
                link=f"{self.settings.web.public_url}/{self.tenant.slug}/reinitialiser/{token}",
                minutes=int(RESET_TTL.total_seconds() // 60),
            )

    async def reset_citizen(self, token: str) -> Citizen | None:
        record = await self._valid_token(token, TokenPurpose.PASSWORD_RESET)
        if record is None:
            return None
        citizen = await self.get(record.citizen_id)
        return citizen if citizen and citizen.status == CitizenStatus.ACTIVE else None

    async def reset_password(self, token: str, password: str, ip: str = "") -> Citizen | None:
        record = await self._valid_token(token, TokenPurpose.PASSWORD_RESET)
        if record is None:
            return None
        citizen = await self.get(record.citizen_id)
        if citizen is None or citizen.status != CitizenStatus.ACTIVE:
            return None
        record.used_at = now()
        self._set_password(citizen, password, ip, "password_reset")
        return citizen

    def _set_password(self, citizen: Citizen, password: str, ip: str, kind: str) -> None:
        citizen.password_hash = hash_password(password)
        citizen.session_epoch += 1  # every other session ends
        self.record(citizen, kind, {}, ip)
        self.email("password_changed", citizen.email, citizen.locale, citizen=citizen, ip=ip)

    # -- identifiers ---------------------------------------------------------------------------
    async def change_username(self, citizen: Citizen, new: str, ip: str = "") -> None:
        old = citizen.username
        citizen.username = new
        citizen.username_key = username_key(new)
        self.record(citizen, "username_changed", {"from": old, "to": new}, ip)

    def change_password(self, citizen: Citizen, new: str, ip: str = "") -> None:
        self._set_password(citizen, new, ip, "password_changed")

    async def request_email_change(self, citizen: Citizen, new_email: str, ip: str = "") -> None:
        citizen.pending_email = new_email
        token = await self._issue_token(
            citizen, TokenPurpose.EMAIL_CHANGE, EMAIL_CHANGE_TTL, {"email": new_email}
        )
        self.record(citizen, "email_change_requested", {"to": new_email}, ip)
        self.email(
            "email_change",
            new_email,
            citizen.locale,
            citizen=citizen,
            link=f"{self.settings.web.public_url}/{self.tenant.slug}/confirmer-courriel/{token}",
        )

    async def confirm_email_change(self, token: str, ip: str = "") -> Citizen | None:
        record = await self._valid_token(token, TokenPurpose.EMAIL_CHANGE)
        if record is None:
            return None
        citizen = await self.get(record.citizen_id)
        if citizen is None or citizen.status != CitizenStatus.ACTIVE:
            return None
        record.used_at = now()
        old = citizen.email
        citizen.email = record.payload["email"]
        citizen.pending_email = ""
        self.record(citizen, "email_changed", {"from": old, "to": citizen.email}, ip)
        self.email("email_changed", old, citizen.locale, citizen=citizen, new_email=citizen.email)
        return citizen

    # -- personal data -------------------------------------------------------------------------
    async def export(self, citizen: Citizen) -> dict[str, Any]:
        """Everything the space holds about the citizen, as JSON-ready data (RGPD access)."""
        fields = [
            c.key
            for c in Citizen.__table__.columns
            if c.key not in {"password_hash", "username_key", "tenant_id", "session_epoch"}
        ]
        profile = {name: _jsonable(getattr(citizen, name)) for name in fields}
        services = [
            {
                "service": s.name,
                "reference": a.reference,
                "holder": a.holder_name,
                "linked_at": _jsonable(a.linked_at),
            }
            for a, s in await self.linked_accounts(citizen)
        ]
        history = [
            {"when": _jsonable(e.created_at), "what": e.kind, "detail": e.detail, "ip": e.ip}
            for e in await self.events.get_many(
                CitizenEvent.citizen_id == citizen.id, order_by=[(CitizenEvent.created_at, False)]
            )
        ]
        from guichet.contacts.models import Contact
        from guichet.documents.models import Document

        contacts = [
            {
                name: _jsonable(getattr(c, name))
                for name in (
                    "kind",
                    "civility",
                    "first_name",
                    "last_name",
                    "relation",
                    "phone",
                    "mobile",
                    "email",
                    "address",
                    "note",
                )
            }
            for c in (
                await self.session.execute(
                    select(Contact).where(
                        Contact.tenant_id == self.tenant.id, Contact.citizen_id == citizen.id
                    )
                )
            ).scalars()
        ]
        documents = [
            {
                "title": d.title,
                "kind": _jsonable(d.kind),
                "media_type": d.media_type,
                "size": d.size,
                "valid_until": _jsonable(d.valid_until),
                "added": _jsonable(d.created_at),
                "file": f"pieces/{d.id}.{d.media_type.rsplit('/', 1)[-1].replace('jpeg', 'jpg')}",
                "_key": d.storage_key,
            }
            for d in (
                await self.session.execute(
                    select(Document).where(
                        Document.tenant_id == self.tenant.id, Document.citizen_id == citizen.id
                    )
                )
            ).scalars()
        ]
        from guichet.procedures.models import (
            Procedure,
            ProcedureRequest,
            RequestEvent,
            RequestMessage,
        )

        requests = []
        for request, procedure in (
            await self.session.execute(
                select(ProcedureRequest, Procedure)
                .join(Procedure, Procedure.id == ProcedureRequest.procedure_id)
                .where(
                    ProcedureRequest.tenant_id == self.tenant.id,
                    ProcedureRequest.citizen_id == citizen.id,
                )
                .order_by(ProcedureRequest.created_at)
            )
        ).all():
            events = (
                await self.session.execute(
                    select(RequestEvent)
                    .where(
                        RequestEvent.tenant_id == self.tenant.id,
                        RequestEvent.request_id == request.id,
                    )
                    .order_by(RequestEvent.created_at)
                )
            ).scalars()
            messages = (
                await self.session.execute(
                    select(RequestMessage)
                    .where(
                        RequestMessage.tenant_id == self.tenant.id,
                        RequestMessage.request_id == request.id,
                    )
                    .order_by(RequestMessage.created_at)
                )
            ).scalars()
            requests.append(
                {
                    "procedure": procedure.title,
                    "reference": request.reference,
                    "status": _jsonable(request.status),
                    "sent_at": _jsonable(request.sent_at),
                    "answers": request.answers,
                    "statuses": [
                        {
                            "when": _jsonable(e.created_at),
                            "status": _jsonable(e.status),
                            "comment": e.comment,
                        }
                        for e in events
                    ],
                    "messages": [
                        {
                            "when": _jsonable(m.created_at),
                            "from": "services" if m.from_agent else "vous",
                            "body": m.body,
                        }
                        for m in messages
                    ],
                }
            )
        profile.pop("photo_file", None)
        profile["photo"] = "photo.jpg" if citizen.photo_file else None
        return {
            "tenant": self.tenant.name,
            "exported_at": _jsonable(now()),
            "profile": profile,
            "services": services,
            "contacts": contacts,
            "documents": documents,
            "requests": requests,
            "history": history,
        }

    async def delete_account(self, citizen: Citizen, ip: str = "") -> list[str]:
        """Erase the space: identity and contact data, the people around the citizen, the stored
        documents and the unsent drafts go; what the law requires a CCAS to keep (invoices,
        payments, the requests sent and their thread) stays, detached from the account and
        anonymised. Returns the file-store keys to delete once the change is committed."""
        from guichet.contacts.models import Contact
        from guichet.documents.models import Document
        from guichet.procedures.models import ProcedureRequest, RequestAttachment, RequestStatus

        email, locale = citizen.email, citizen.locale
        files = [citizen.photo_file] if citizen.photo_file else []
        for table in (Contact, Document):
            for row in (
                await self.session.execute(
                    select(table).where(
                        table.tenant_id == self.tenant.id, table.citizen_id == citizen.id
                    )
                )
            ).scalars():
                if isinstance(row, Document):
                    files.append(row.storage_key)
                await self.session.delete(row)
        drafts = (
            (
                await self.session.execute(
                    select(ProcedureRequest).where(
                        ProcedureRequest.tenant_id == self.tenant.id,
                        ProcedureRequest.citizen_id == citizen.id,
                        ProcedureRequest.status == RequestStatus.DRAFT,
                    )
                )
            )
            .scalars()
            .all()
        )
        # Sent requests stay with the CCAS; the address given with them goes.
        await self.session.execute(
            update(ProcedureRequest)
            .where(
                ProcedureRequest.tenant_id == self.tenant.id,
                ProcedureRequest.citizen_id == citizen.id,
                ProcedureRequest.status != RequestStatus.DRAFT,
            )
            .values(email="")
            .execution_options(synchronize_session=False)
        )
        for draft in drafts:
            for attachment in (
                await self.session.execute(
                    select(RequestAttachment).where(
                        RequestAttachment.tenant_id == self.tenant.id,
                        RequestAttachment.request_id == draft.id,
                    )
                )
            ).scalars():
                files.append(attachment.storage_key)
            await self.session.delete(draft)  # its attachments go with it (ON DELETE CASCADE)
        self.email("account_deleted", email, locale, citizen=citizen)
        for account in await self.service_accounts.get_many(
            ServiceAccount.citizen_id == citizen.id
        ):
            account.citizen_id = None
            account.linked_at = None
        for token in await self.tokens.get_many(AccountToken.citizen_id == citizen.id):
            await self.tokens.delete(token.id)
        for event in await self.events.get_many(CitizenEvent.citizen_id == citizen.id):
            event.detail = {}
            event.ip = ""
        # Emails already sent to the citizen carried their name and links: keep no copy.
        for message in (
            await self.session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.tenant_id == self.tenant.id,
                    OutboxMessage.recipient == email,
                    OutboxMessage.sent_at.is_not(None),
                )
            )
        ).scalars():
            await self.session.delete(message)
        anonymous = f"supprime-{citizen.id.hex[:12]}"
        citizen.status = CitizenStatus.DELETED
        citizen.username = anonymous
        citizen.username_key = anonymous
        citizen.password_hash = ""
        for name in (
            "last_name",
            "first_names",
            "birth_name",
            "birth_country",
            "birth_department",
            "birth_commune",
            "photo_file",
            "street_number",
            "street_number_suffix",
            "street_name",
            "building",
            "apartment",
            "address_complement",
            "postcode",
            "city",
            "phone",
            "mobile",
            "fax",
            "email",
            "pending_email",
        ):
            setattr(citizen, name, "")
        citizen.civility = ""
        citizen.birth_date = None
        citizen.session_epoch += 1
        self.record(citizen, "deleted", {}, ip)
        return files


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    return value


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
