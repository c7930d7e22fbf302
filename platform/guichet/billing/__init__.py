"""Invoices and online payment (guide §5): ledgers, invoices, payment attempts, payments."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["unpaid_count_statement", "unpaid_invoice_count"]


def unpaid_count_statement() -> Any:
    """The count of ``unpaid_invoice_count`` as a statement (parameters ``tenant_id`` and
    ``citizen_id``), for pages that read several counts in one statement."""
    from guichet.billing.services import _UNPAID_COUNT

    return _UNPAID_COUNT


async def unpaid_invoice_count(
    session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID
) -> int:
    """How many of the citizen's invoices are not (fully) settled."""
    from guichet.billing.services import BillingService

    return await BillingService(session, tenant_id, citizen_id).unpaid_count()
