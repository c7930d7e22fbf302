"""Invoices and online payment (guide §5): ledgers, invoices, payment attempts, payments."""

from __future__ import annotations

from typing import Any

__all__ = ["unpaid_count_statement"]


def unpaid_count_statement() -> Any:
    """How many of the citizen's invoices are not (fully) settled, as a statement (parameters
    ``tenant_id`` and ``citizen_id``), for pages that read several counts in one statement."""
    from guichet.billing.services import UNPAID_COUNT

    return UNPAID_COUNT
