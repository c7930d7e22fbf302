"""Citizen accounts, their files in the tenant's services, and single-use tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase
from guichet.text import fold

__all__ = [
    "AccountToken",
    "Citizen",
    "CitizenEvent",
    "CitizenStatus",
    "ServiceAccount",
    "TokenPurpose",
]


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class CitizenStatus(enum.StrEnum):
    PENDING = "pending"  # created, waiting for the activation link
    ACTIVE = "active"
    LOCKED = "locked"  # by staff
    DELETED = "deleted"  # erased at the citizen's request; kept rows are anonymised


class Citizen(TimestampedBase, TenantOwned):
    """A citizen's personal space (espace personnel) in one tenant."""

    __tablename__ = "citizen"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username_key"),
        Index("ix_citizen_tenant_email", "tenant_id", "email"),
    )

    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64))  # casefolded, for uniqueness
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[CitizenStatus] = mapped_column(
        _enum(CitizenStatus), default=CitizenStatus.PENDING
    )
    # identity
    civility: Mapped[str] = mapped_column(String(20))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_name: Mapped[str] = mapped_column(String(100), default="")
    first_names: Mapped[str] = mapped_column(String(150))
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    birth_country: Mapped[str] = mapped_column(String(2), default="")
    birth_department: Mapped[str] = mapped_column(String(3), default="")
    birth_commune: Mapped[str] = mapped_column(String(100), default="")
    photo_file: Mapped[str] = mapped_column(String(300), default="")
    # address
    street_number: Mapped[str] = mapped_column(String(10), default="")
    street_number_suffix: Mapped[str] = mapped_column(String(10), default="")
    street_name: Mapped[str] = mapped_column(String(150), default="")
    building: Mapped[str] = mapped_column(String(100), default="")
    apartment: Mapped[str] = mapped_column(String(50), default="")
    address_complement: Mapped[str] = mapped_column(String(150), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="FR")
    # contact means
    phone: Mapped[str] = mapped_column(String(30), default="")
    mobile: Mapped[str] = mapped_column(String(30), default="")
    fax: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254))
    preferred_contact: Mapped[str] = mapped_column(String(10), default="email")
    pending_email: Mapped[str] = mapped_column(String(254), default="")
    # preferences and lifecycle
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    terms_version: Mapped[int] = mapped_column(Integer, default=0)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )
    activated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # what the agents' search looks in, without accents nor case (« cecile » finds Cécile):
    # kept by the ORM at every write (see search_text below)
    search_text: Mapped[str] = mapped_column(String(800), default="", server_default="")

    @property
    def display_name(self) -> str:
        """ "Madame ALQUIER", as the guide's header shows."""
        return f"{self.civility} {self.last_name.upper()}".strip()

    @property
    def full_name(self) -> str:
        """ "Madame ALQUIER Cécile", as invoices address the citizen."""
        return f"{self.civility} {self.last_name.upper()} {self.first_names}".strip()


SEARCHED_FIELDS = ("last_name", "birth_name", "first_names", "username", "email", "postcode")


def search_form(text: str) -> str:
    """``text`` as the search compares it: no accents, no case, spaces kept (« Œuvre
    Éléonore » → « oeuvre eleonore »)."""
    return fold(text)


def search_text(citizen: Citizen) -> str:
    return " ".join(search_form(getattr(citizen, name) or "") for name in SEARCHED_FIELDS)[:800]


@event.listens_for(Citizen, "before_insert")
@event.listens_for(Citizen, "before_update")
def _keep_search_text(_mapper: Any, _connection: Any, citizen: Citizen) -> None:
    citizen.search_text = search_text(citizen)


def postal_lines(citizen: Citizen) -> str:
    """The address of a citizen's space as it goes under their name on an envelope (the norm
    NF Z10-011: number and street, complement, « POSTCODE CITY » in capitals, the country when
    not France), one line each; empty when the space has no address."""
    street = " ".join(
        part
        for part in (citizen.street_number, citizen.street_number_suffix, citizen.street_name)
        if part
    )
    lines = [
        " ".join(part for part in (citizen.building, citizen.apartment) if part),
        citizen.address_complement,
        street,
        f"{citizen.postcode} {citizen.city.upper()}".strip(),
    ]
    if citizen.country and citizen.country != "FR":
        lines.append(citizen.country)
    return "\n".join(line for line in lines if line) if street or citizen.postcode else ""


MAX_ADDRESS_LINES = 5  # under the name: six lines in all, as the norm allows
MAX_ADDRESS_CHARS = 300  # typed or sent; a space's address (its own fields) may be longer


def clean_postal_address(text: str) -> str:
    """Address lines as typed or sent (line breaks, or « | » as a one-line cell of a
    spreadsheet writes them): each line trimmed, empty ones left out."""
    lines = (" ".join(line.split()) for line in text.replace("|", "\n").splitlines())
    return "\n".join(line for line in lines if line)


def postal_address_problem(address: str) -> str:
    """Why a cleaned address cannot be printed under a name in an envelope's window, in
    English (the API's and imports' reports); empty when it can."""
    if len(address.splitlines()) > MAX_ADDRESS_LINES or len(address) > MAX_ADDRESS_CHARS:
        return f"at most {MAX_ADDRESS_LINES} lines and {MAX_ADDRESS_CHARS} characters"
    return ""


def mailing_address(account: ServiceAccount, citizen: Citizen | None) -> str:
    """Where a file's paper goes: the linked space's address (its holder keeps it up to date
    in « Mes coordonnées »), else the one the service gave the file."""
    address = (postal_lines(citizen) if citizen is not None else "") or account.postal_address
    return address[:600]  # the columns' size; a space's fields add up to about 590


async def file_mailing_address(session: Any, account: ServiceAccount) -> str:
    """:func:`mailing_address` of one file, its linked space read when it has one."""
    citizen = await session.get(Citizen, account.citizen_id) if account.citizen_id else None
    return mailing_address(account, citizen)


class ServiceAccount(TimestampedBase, TenantOwned):
    """The citizen's file in one service, reached through an access key (clé d'accès)."""

    __tablename__ = "service_account"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key_digest"),
        UniqueConstraint("tenant_id", "service_id", "reference"),
        Index("ix_service_account_tenant_citizen", "tenant_id", "citizen_id"),
    )

    service_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("service.id", ondelete="CASCADE")
    )
    reference: Mapped[str] = mapped_column(String(50))  # the file number in the service
    holder_name: Mapped[str] = mapped_column(String(200))
    # where letters and paper invoices go when no linked space gives an address: the lines
    # under the holder's name, the last one « 81100 CASTRES »
    postal_address: Mapped[str] = mapped_column(String(600), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    key_digest: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 of the key, never the key
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True
    )
    linked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # ADHÉSION À LA FACTURE/COMPTE EN LIGNE: invoices by email instead of paper
    paperless: Mapped[bool] = mapped_column(Boolean, default=False)
    paperless_email: Mapped[str] = mapped_column(String(254), default="")
    paperless_changed_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )


class TokenPurpose(enum.StrEnum):
    ACTIVATION = "activation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password
    EMAIL_CHANGE = "email_change"


class AccountToken(TimestampedBase, TenantOwned):
    """A single-use link token; only its digest is stored."""

    __tablename__ = "account_token"
    __table_args__ = (UniqueConstraint("tenant_id", "token_digest"),)

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose))
    token_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)


class CitizenEvent(TimestampedBase, TenantOwned):
    """The citizen's history: what changed in their space, when, from where."""

    __tablename__ = "citizen_event"
    __table_args__ = (Index("ix_citizen_event_tenant_citizen", "tenant_id", "citizen_id"),)

    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    ip: Mapped[str] = mapped_column(String(45), default="")
