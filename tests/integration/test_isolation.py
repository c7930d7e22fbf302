"""Tenant isolation: repositories never see another tenant's rows; on PostgreSQL, RLS as well."""

import uuid
from datetime import UTC, date, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select, text

from guichet.db.repository import CrossTenantError, NotFoundError, TenantRepository
from guichet.db.session import Database
from guichet.portal.services import ContentPageRepository, NewsRepository, TermsRepository
from guichet.procedures.models import Procedure, ProcedureRepository
from guichet.staff.models import StaffRepository, StaffUser
from guichet.tenancy.models import ContentPage, NewsItem, Service, Tenant, TermsVersion

pytestmark = pytest.mark.asyncio(loop_scope="session")


class ServiceRepository(TenantRepository[Service]):
    model_type = Service


def _new(model, tenant_id, n):
    if model is NewsItem:
        return NewsItem(
            tenant_id=tenant_id, key=f"k{n}", published_on=date(2020, 1, n), body=f"news {n}"
        )
    if model is TermsVersion:
        return TermsVersion(
            tenant_id=tenant_id,
            version=100 + n,
            title="CGU",
            body=f"v{n}",
            published_at=datetime(2020, 1, n, tzinfo=UTC),
        )
    if model is ContentPage:
        return ContentPage(tenant_id=tenant_id, key=f"page.test{n}", locale="fr", body=f"p{n}")
    if model is Procedure:
        return Procedure(tenant_id=tenant_id, code=f"proc{n}", title=f"Démarche {n}")
    if model is StaffUser:
        return StaffUser(
            tenant_id=tenant_id, email=f"agent{n}@exemple.fr", name=f"Agent {n}", password_hash="x"
        )
    return Service(tenant_id=tenant_id, code=f"svc{n}", name=f"Service {n}")


REPOSITORIES = [
    (NewsRepository, NewsItem),
    (TermsRepository, TermsVersion),
    (ContentPageRepository, ContentPage),
    (ServiceRepository, Service),
    (ProcedureRepository, Procedure),
    (StaffRepository, StaffUser),
]


@pytest_asyncio.fixture(loop_scope="session")
async def two_tenants(backend):
    """Two fresh tenants (A, B) created for the test, removed afterwards."""
    async for value in _two_tenants(backend.settings):
        yield value


@pytest_asyncio.fixture(loop_scope="session")
async def pg_two_tenants(postgres_backend):
    async for value in _two_tenants(postgres_backend.settings):
        yield value


async def _two_tenants(settings):
    db = Database(settings)
    ids = []
    async with db.transaction(all_tenants=True) as session:
        for label in ("a", "b"):
            tenant = Tenant(
                slug=f"iso-{label}-{uuid.uuid4().hex[:8]}", name=f"Tenant {label}", kind="ccas"
            )
            session.add(tenant)
            await session.flush()
            ids.append(tenant.id)
    try:
        yield db, ids[0], ids[1]
    finally:
        async with db.transaction(all_tenants=True) as session:
            for tid in ids:
                await session.delete(await session.get(Tenant, tid))
        await db.dispose()


@pytest.mark.parametrize(("repository", "model"), REPOSITORIES)
async def test_repository_sees_only_its_tenant(two_tenants, repository, model):
    db, a, b = two_tenants
    async with db.transaction(a) as session:
        row_a = await repository(session=session, tenant_id=a).add(_new(model, a, 1))
    async with db.transaction(b) as session:
        row_b = await repository(session=session, tenant_id=b).add(_new(model, b, 2))

    async with db.session(a) as session:
        repo = repository(session=session, tenant_id=a)
        assert [r.id for r in await repo.get_many()] == [row_a.id]
        assert await repo.count() == 1
        assert (await repo.get(row_a.id)).id == row_a.id
        with pytest.raises(NotFoundError):
            await repo.get(row_b.id)
        assert await repo.get_one_or_none(id=row_b.id) is None
        with pytest.raises(NotFoundError):
            await repo.delete(row_b.id)

    async with db.session(b) as session:
        assert await repository(session=session, tenant_id=b).count() == 1


@pytest.mark.parametrize(("repository", "model"), REPOSITORIES)
async def test_repository_refuses_another_tenants_object(two_tenants, repository, model):
    db, a, b = two_tenants
    async with db.session(a) as session:
        with pytest.raises(CrossTenantError):
            await repository(session=session, tenant_id=a).add(_new(model, b, 3))


async def test_update_cannot_move_a_row_across_tenants(two_tenants):
    db, a, b = two_tenants
    async with db.transaction(b) as session:
        row_b = await NewsRepository(session=session, tenant_id=b).add(_new(NewsItem, b, 4))
    async with db.session(a) as session:
        intruder = NewsItem(
            id=row_b.id, tenant_id=a, key="k4", published_on=date(2020, 1, 4), body="hijacked"
        )
        with pytest.raises(NotFoundError):
            await NewsRepository(session=session, tenant_id=a).update(intruder)


async def test_same_key_may_exist_in_two_tenants(two_tenants):
    db, a, b = two_tenants
    for tid in (a, b):
        async with db.transaction(tid) as session:
            await ServiceRepository(session=session, tenant_id=tid).add(
                Service(code="action-sociale", name="Action sociale")
            )


async def test_session_must_name_its_tenant(backend):
    db = Database(backend.settings)
    with pytest.raises(ValueError, match="one tenant"):
        db.session()
    await db.dispose()


async def test_rls_hides_other_tenants_rows_from_a_query_without_filter(pg_two_tenants):
    """The second wall (PostgreSQL): a query that forgets ``tenant_id`` sees no other tenant."""
    db, a, b = pg_two_tenants
    async with db.transaction(a) as session:
        session.add(_new(NewsItem, a, 5))
    async with db.transaction(b) as session:
        session.add(_new(NewsItem, b, 6))

    async with db.session(a) as session:
        rows = (await session.execute(select(NewsItem))).scalars().all()  # no tenant filter
        assert {r.tenant_id for r in rows} == {a}
        raw = (await session.execute(text("SELECT tenant_id FROM news_item"))).all()
        assert {uuid.UUID(str(r[0])) for r in raw} == {a}
        # Writing a row for another tenant is refused by the policy's WITH CHECK.
        session.add(NewsItem(tenant_id=b, key="sneaky", published_on=date(2020, 2, 2), body="x"))
        with pytest.raises(Exception, match="row-level security"):
            await session.flush()


async def test_rls_without_a_tenant_sees_nothing(postgres_backend):
    db = Database(postgres_backend.settings)
    try:
        async with db.engine.connect() as conn:  # a connection that never set a tenant
            count = (await conn.execute(text("SELECT count(*) FROM news_item"))).scalar_one()
        assert count == 0
        async with db.session(all_tenants=True) as session:
            assert (await session.execute(text("SELECT count(*) FROM news_item"))).scalar_one() > 0
    finally:
        await db.dispose()


async def test_every_tenant_owned_table_has_a_forced_policy(postgres_backend):
    """A new tenant-owned table without its RLS policy fails here."""
    from guichet.db.base import TENANT_OWNED_TABLES

    db = Database(postgres_backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                        "(SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname) "
                        "FROM pg_class c WHERE c.relkind = 'r' "
                        "AND c.relnamespace = 'public'::regnamespace"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    state = {name: (rls, force, policies) for name, rls, force, policies in rows}
    assert TENANT_OWNED_TABLES <= set(state)
    for table in sorted(TENANT_OWNED_TABLES):
        assert state[table] == (True, True, 1), table
