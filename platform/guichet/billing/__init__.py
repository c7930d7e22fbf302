"""Invoices and online payment (guide §5): ledgers, invoices, payment attempts, payments."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["unpaid_invoice_count"]


async def unpaid_invoice_count(
    session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID
) -> int:
    """How many of the citizen's invoices are not (fully) settled."""
    from guichet.billing.services import BillingService

    return await BillingService(session, tenant_id, citizen_id).unpaid_count()
