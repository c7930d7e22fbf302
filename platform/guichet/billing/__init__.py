"""Invoices and payments. Until the billing domain lands (issue 5) a citizen has no invoice."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["unpaid_invoice_count"]


async def unpaid_invoice_count(
    session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID
) -> int:
    """How many of the citizen's invoices are not settled. There are no invoice tables yet, so the
    honest answer is 0; the billing issue replaces this with a query on its invoices."""
    return 0
