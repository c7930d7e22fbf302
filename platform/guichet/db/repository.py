"""Repositories that always filter on the tenant.

:class:`TenantRepository` builds on advanced-alchemy's repository with a base statement that
carries ``tenant_id = :tenant``: ``get``, ``list``, ``count``, ``get_one_or_none``, ``exists`` and
``delete`` never see another tenant's rows, and ``add``/``update`` refuse an object of another
tenant. Bulk operations that bypass the base statement are not offered here on purpose.
"""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.db.base import Base

__all__ = ["CrossTenantError", "NotFoundError", "TenantRepository", "lazy_repository"]

ModelT = TypeVar("ModelT", bound=Base)


class CrossTenantError(Exception):
    """An object of one tenant was handed to a repository of another."""


_BASE_STATEMENTS: dict[tuple[type[Any], uuid.UUID], Select[Any]] = {}


def _base_statement(model: type[Any], tenant_id: uuid.UUID) -> Select[Any]:
    """``SELECT model WHERE tenant_id = …``, built once per model and tenant (statements are
    immutable: refining one makes a new one). Building the comparison each time was a tenth of
    a simple page's CPU (bench/README.md)."""
    key = (model, tenant_id)
    statement = _BASE_STATEMENTS.get(key)
    if statement is None:
        if len(_BASE_STATEMENTS) >= 50_000:  # bounded: many tenants × about 25 models
            _BASE_STATEMENTS.clear()
        statement = select(model).where(model.tenant_id == tenant_id)
        _BASE_STATEMENTS[key] = statement
    return statement


class TenantRepository(SQLAlchemyAsyncRepository[ModelT], Generic[ModelT]):
    """A repository bound to one tenant."""

    model_type: type[Any]

    def __init__(self, *, session: AsyncSession, tenant_id: uuid.UUID, **kwargs: Any) -> None:
        if tenant_id is None:
            raise ValueError("a tenant repository needs a tenant")
        self.tenant_id = tenant_id
        super().__init__(
            session=session, statement=_base_statement(self.model_type, tenant_id), **kwargs
        )

    def _check(self, data: Any) -> None:
        current = getattr(data, "tenant_id", None)
        if current is None:
            data.tenant_id = self.tenant_id
        elif current != self.tenant_id:
            raise CrossTenantError(
                f"{type(data).__name__} belongs to another tenant than this repository's"
            )

    async def add(self, data: ModelT, *args: Any, **kwargs: Any) -> ModelT:
        self._check(data)
        return await super().add(data, *args, **kwargs)

    async def add_many(self, data: list[ModelT], *args: Any, **kwargs: Any) -> Any:
        for item in data:
            self._check(item)
        return await super().add_many(data, *args, **kwargs)

    async def update(self, data: ModelT, *args: Any, **kwargs: Any) -> ModelT:
        self._check(data)
        # The row must exist in this tenant: a merge must never move a row across tenants.
        await self.get(data.id)
        return await super().update(data, *args, **kwargs)

    async def upsert(self, data: ModelT, *args: Any, **kwargs: Any) -> ModelT:  # pragma: no cover
        raise NotImplementedError("use get_one_or_none() then add() or update() within a tenant")

    async def delete_where(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("bulk deletes bypass the tenant filter; delete one by one")


RepositoryT = TypeVar("RepositoryT", bound=TenantRepository[Any])


class lazy_repository(Generic[RepositoryT]):
    """A service's repository, made on first use for the service's ``session`` and
    ``tenant``: most pages need few of a service's repositories, and making them all on every
    request was 3 % of MON ACCUEIL's CPU (bench/README.md)."""

    def __init__(self, repository: type[RepositoryT]) -> None:
        self.repository = repository
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    def __get__(self, service: Any, owner: type[Any] | None = None) -> RepositoryT:
        made = self.repository(session=service.session, tenant_id=service.tenant.id)
        service.__dict__[self.name] = made  # read from the instance from now on
        return made
