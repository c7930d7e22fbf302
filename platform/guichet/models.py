"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from guichet.db.base import TENANT_OWNED_TABLES, Base
from guichet.tenancy.models import ContentPage, NewsItem, Service, Tenant, TermsVersion

__all__ = [
    "TENANT_OWNED_TABLES",
    "Base",
    "ContentPage",
    "NewsItem",
    "Service",
    "Tenant",
    "TermsVersion",
]
