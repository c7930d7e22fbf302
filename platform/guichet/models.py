"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from guichet.accounts.models import AccountToken, Citizen, CitizenEvent, ServiceAccount
from guichet.db.base import TENANT_OWNED_TABLES, Base
from guichet.notifications.models import OutboxMessage
from guichet.tenancy.models import ContentPage, NewsItem, Service, Tenant, TermsVersion

__all__ = [
    "TENANT_OWNED_TABLES",
    "AccountToken",
    "Base",
    "Citizen",
    "CitizenEvent",
    "ContentPage",
    "NewsItem",
    "OutboxMessage",
    "Service",
    "ServiceAccount",
    "Tenant",
    "TermsVersion",
]
