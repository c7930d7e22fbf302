"""Tenant models.

``Tenant`` is the root of tenancy (not tenant-owned itself). Everything else here carries
``tenant_id``; uniqueness is always per tenant.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Date, Enum, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase

__all__ = [
    "ContentPage",
    "NewsItem",
    "Service",
    "Tenant",
    "TenantKind",
    "TenantStatus",
    "TermsVersion",
]


class TenantKind(enum.StrEnum):
    COMMUNE = "commune"
    CCAS = "ccas"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    SUSPENDED = "suspended"


class Tenant(TimestampedBase):
    __tablename__ = "tenant"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(100), default="")
    tagline: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[TenantKind] = mapped_column(
        Enum(
            TenantKind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        )
    )
    status: Mapped[TenantStatus] = mapped_column(
        Enum(
            TenantStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=TenantStatus.ACTIVE,
    )
    maintenance_message: Mapped[str] = mapped_column(Text, default="")
    theme: Mapped[str] = mapped_column(String(50), default="default")
    # branding
    primary_color: Mapped[str] = mapped_column(String(7), default="#1f4e79")
    on_primary_color: Mapped[str] = mapped_column(String(7), default="#ffffff")
    accent_color: Mapped[str] = mapped_column(String(7), default="#a63f00")
    on_accent_color: Mapped[str] = mapped_column(String(7), default="#ffffff")
    logo_file: Mapped[str] = mapped_column(String(300), default="")
    logo_media_type: Mapped[str] = mapped_column(String(50), default="")
    logo_hash: Mapped[str] = mapped_column(String(64), default="")
    logo_alt: Mapped[str] = mapped_column(String(200), default="")
    # public content
    welcome_title: Mapped[str] = mapped_column(String(200), default="")
    welcome_text: Mapped[str] = mapped_column(Text, default="")
    main_site_url: Mapped[str] = mapped_column(String(300), default="")
    copyright_since: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # contact block
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_hours: Mapped[str] = mapped_column(String(200), default="")
    contact_address: Mapped[str] = mapped_column(Text, default="")
    # locale
    default_locale: Mapped[str] = mapped_column(String(10), default="fr")
    locales: Mapped[list[str]] = mapped_column(JsonB, default=lambda: ["fr", "en"])
    # password policy (guide: at least 8 characters with 1 lowercase and 1 digit)
    password_min_length: Mapped[int] = mapped_column(Integer, default=8)
    password_min_lowercase: Mapped[int] = mapped_column(Integer, default=1)
    password_min_uppercase: Mapped[int] = mapped_column(Integer, default=0)
    password_min_digits: Mapped[int] = mapped_column(Integer, default=1)
    password_min_special: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    document_max_bytes: Mapped[int] = mapped_column(Integer, default=10 * 1024 * 1024)
    document_quota_bytes: Mapped[int] = mapped_column(Integer, default=100 * 1024 * 1024)
    catalog_digest: Mapped[str] = mapped_column(String(64), default="")


class TermsVersion(TimestampedBase, TenantOwned):
    """A version of the tenant's CGU; the highest published version is the current one."""

    __tablename__ = "terms_version"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class NewsItem(TimestampedBase, TenantOwned):
    __tablename__ = "news_item"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_news_item_tenant_published", "tenant_id", "published_on"),
    )

    key: Mapped[str] = mapped_column(String(100))
    published_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)


class ContentPage(TimestampedBase, TenantOwned):
    """A tenant's text for a page or a help section, overriding the platform default."""

    __tablename__ = "content_page"
    __table_args__ = (UniqueConstraint("tenant_id", "key", "locale"),)

    key: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)


class Service(TimestampedBase, TenantOwned):
    """A service of the tenant that issues access keys (e.g. "Action sociale")."""

    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
