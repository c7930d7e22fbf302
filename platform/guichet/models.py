"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from guichet.accounts.models import AccountToken, Citizen, CitizenEvent, ServiceAccount
from guichet.audit.models import AuditEvent
from guichet.billing.models import (
    ApiToken,
    BillableItem,
    BillingRun,
    Invoice,
    InvoiceLine,
    Ledger,
    Payment,
    PaymentTransaction,
)
from guichet.contacts.models import Contact
from guichet.db.base import TENANT_OWNED_TABLES, Base
from guichet.documents.models import Document
from guichet.notifications.models import OutboxMessage
from guichet.procedures.models import (
    Procedure,
    ProcedureRequest,
    RequestAttachment,
    RequestEvent,
    RequestMessage,
)
from guichet.staff.models import Operator, StaffUser
from guichet.tenancy.models import ContentPage, NewsItem, Service, Tenant, TermsVersion

__all__ = [
    "TENANT_OWNED_TABLES",
    "AccountToken",
    "ApiToken",
    "AuditEvent",
    "Base",
    "BillableItem",
    "BillingRun",
    "Citizen",
    "CitizenEvent",
    "Contact",
    "ContentPage",
    "Document",
    "Invoice",
    "InvoiceLine",
    "Ledger",
    "NewsItem",
    "Operator",
    "OutboxMessage",
    "Payment",
    "PaymentTransaction",
    "Procedure",
    "ProcedureRequest",
    "RequestAttachment",
    "RequestEvent",
    "RequestMessage",
    "Service",
    "ServiceAccount",
    "StaffUser",
    "Tenant",
    "TermsVersion",
]
