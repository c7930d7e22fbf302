"""`guichet tenants apply`: creates, updates, is idempotent, refuses bad files and rewritten CGU."""

import json
import shutil

import pytest
from sqlalchemy import func, select

from guichet.accounts.models import ServiceAccount
from guichet.db.session import Database
from guichet.files import create_file_store
from guichet.tenancy.catalog import CatalogError, apply_catalog, load_catalog
from guichet.tenancy.models import NewsItem, Service, Tenant, TermsVersion
from guichet.tenancy.resolver import TenantResolver
from guichet.web.stores import close_store, create_store
from tests.conftest import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "ccas-test-apply"
    shutil.copytree(ROOT / "tenants" / "ccas-castres", target)
    path = target / "tenant.toml"
    path.write_text(path.read_text().replace('slug = "ccas-castres"', 'slug = "ccas-test-apply"'))
    return target


async def _apply(settings, folder):
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            return await apply_catalog(
                session,
                load_catalog(folder, settings.themes_dir),
                create_file_store(settings),
                settings.web.secret_key,
            )
    finally:
        await db.dispose()


async def _cleanup(settings, slug):
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant = (
                await session.execute(select(Tenant).where(Tenant.slug == slug))
            ).scalar_one_or_none()
            if tenant is not None:
                await session.delete(tenant)
    finally:
        await db.dispose()


async def test_apply_twice_changes_nothing_the_second_time(backend, folder):
    try:
        first = await _apply(backend.settings, folder)
        assert "tenant ccas-test-apply: created" in first
        assert await _apply(backend.settings, folder) == []
    finally:
        await _cleanup(backend.settings, "ccas-test-apply")


async def test_apply_updates_what_changed_and_the_resolver_sees_it(backend, folder):
    settings = backend.settings
    store = create_store(settings)
    db = Database(settings)
    resolver = TenantResolver(db, store.with_namespace("tenancy"))
    try:
        await _apply(settings, folder)
        await resolver.invalidate()
        assert (await resolver.resolve("ccas-test-apply")).contact_phone == "05 63 71 56 13"
        path = folder / "tenant.toml"
        path.write_text(
            path.read_text().replace('phone = "05 63 71 56 13"', 'phone = "05 63 00 00 00"')
            + '\n[[news]]\nkey = "nouvelle"\ndate = 2020-01-05\nbody = "Nouvelle actualité"\n'
        )
        changes = await _apply(settings, folder)
        assert changes == ["tenant ccas-test-apply: contact_phone changed", "news nouvelle: added"]
        # Cached until the change is announced, as `guichet tenants apply` does.
        assert (await resolver.resolve("ccas-test-apply")).contact_phone == "05 63 71 56 13"
        await resolver.invalidate()
        assert (await resolver.resolve("ccas-test-apply")).contact_phone == "05 63 00 00 00"
        async with db.session(all_tenants=True) as session:
            count = await session.scalar(
                select(func.count())
                .select_from(NewsItem)
                .join(Tenant)
                .where(Tenant.slug == "ccas-test-apply")
            )
        assert count == 2
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()
        await close_store(store)


async def test_a_published_cgu_version_is_never_rewritten(backend, folder):
    try:
        await _apply(backend.settings, folder)
        cgu = folder / "cgu.md"
        cgu.write_text(cgu.read_text() + "\nUne phrase ajoutée.\n")
        with pytest.raises(CatalogError, match="add a new version"):
            await _apply(backend.settings, folder)
        path = folder / "tenant.toml"
        path.write_text(
            path.read_text()
            + '\n[[terms]]\nversion = 2\npublished_at = 2026-01-01\nfile = "cgu.md"\n'
        )
        (folder / "cgu-v1.md").write_text((ROOT / "tenants/ccas-castres/cgu.md").read_text())
        path.write_text(path.read_text().replace('file = "cgu.md"', 'file = "cgu-v1.md"', 1))
        assert await _apply(backend.settings, folder) == ["CGU version 2: published"]
        db = Database(backend.settings)
        async with db.session(all_tenants=True) as session:
            versions = (
                (
                    await session.execute(
                        select(TermsVersion.version)
                        .join(Tenant)
                        .where(Tenant.slug == "ccas-test-apply")
                        .order_by(TermsVersion.version)
                    )
                )
                .scalars()
                .all()
            )
        await db.dispose()
        assert versions == [1, 2]
    finally:
        await _cleanup(backend.settings, "ccas-test-apply")


async def test_bank_options_come_from_the_environment_and_are_stored_encrypted(
    backend, folder, monkeypatch
):
    from guichet.billing.crypto import decrypt_options
    from guichet.billing.models import Ledger

    settings = backend.settings
    path = folder / "tenant.toml"
    text = path.read_text()
    assert 'backend = "sandbox"' in text
    path.write_text(
        text.replace('backend = "sandbox"', 'backend = "paybox"\noptions_env = "TEST_PAYBOX_OPTS"')
    )
    secret = "s3cr3t-" + "A" * 40
    monkeypatch.setenv(
        "TEST_PAYBOX_OPTS",
        json.dumps(
            {"site": "1999888", "rang": "32", "identifiant": "107904482", "shared_secret": secret}
        ),
    )
    db = Database(settings)
    try:
        assert "ledger seniors: added" in await _apply(settings, folder)
        assert await _apply(settings, folder) == []  # same options: nothing changes
        async with db.session(all_tenants=True) as session:
            ledger = (
                await session.execute(
                    select(Ledger).join(Tenant).where(Tenant.slug == "ccas-test-apply")
                )
            ).scalar_one()
        assert ledger.backend == "paybox" and secret not in ledger.backend_options
        options = decrypt_options(settings.web.secret_key, ledger.backend_options)
        assert options["shared_secret"] == secret
        monkeypatch.setenv("TEST_PAYBOX_OPTS", '{"site": "2", "rang": "1", "identifiant": "3"}')
        assert await _apply(settings, folder) == ["ledger seniors: backend_options changed"]
        monkeypatch.setenv("TEST_PAYBOX_OPTS", "not json")
        with pytest.raises(CatalogError, match="TEST_PAYBOX_OPTS must hold"):
            load_catalog(folder, settings.themes_dir)  # refused before anything is written
        # Unset, the stored options are kept: other changes need no bank secret.
        monkeypatch.delenv("TEST_PAYBOX_OPTS")
        assert await _apply(settings, folder) == []
        async with db.session(all_tenants=True) as session:
            kept = (
                await session.execute(
                    select(Ledger).join(Tenant).where(Tenant.slug == "ccas-test-apply")
                )
            ).scalar_one()
        assert decrypt_options(settings.web.secret_key, kept.backend_options)["site"] == "2"
        # A new bank ledger cannot be created without its options.
        path.write_text(path.read_text().replace('code = "seniors"', 'code = "seniors-bis"'))
        with pytest.raises(CatalogError, match="TEST_PAYBOX_OPTS is not set"):
            await _apply(settings, folder)
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()


async def test_procedures_are_applied_updated_and_kept(backend, folder):
    from guichet.procedures.models import Procedure

    settings = backend.settings
    db = Database(settings)

    async def procedures():
        async with db.session(all_tenants=True) as session:
            rows = (
                await session.execute(
                    select(Procedure)
                    .join(Tenant)
                    .where(Tenant.slug == "ccas-test-apply")
                    .order_by(Procedure.position)
                )
            ).scalars()
            return {p.code: p for p in rows}

    try:
        changes = await _apply(settings, folder)
        assert "procedure portage-repas: added" in changes
        found = await procedures()
        assert list(found) == ["portage-repas", "aide-facultative", "registre-canicule"]
        assert found["portage-repas"].fields[0]["prefill"] == "full_name"
        assert found["portage-repas"].processing_days == 10
        assert await _apply(settings, folder) == []
        path = folder / "tenant.toml"
        text = path.read_text()
        head, sep, rest = text.partition('code = "registre-canicule"')
        path.write_text(
            head.replace("processing_days = 30", "processing_days = 20")
            + sep
            + rest.replace("account_required = false", "account_required = false\nactive = false")
        )
        assert await _apply(settings, folder) == [
            "procedure aide-facultative: processing_days changed",
            "procedure registre-canicule: active changed",
        ]
        # A procedure that leaves the file is kept as it is (requests will point to it).
        path.write_text(path.read_text().partition("[[procedures]]")[0])
        assert await _apply(settings, folder) == []
        found = await procedures()
        assert len(found) == 3 and found["portage-repas"].active
        assert not found["registre-canicule"].active
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()


async def test_screen_edits_survive_the_same_file_and_yield_to_a_changed_one(backend, folder):
    settings = backend.settings
    db = Database(settings)
    try:
        await _apply(settings, folder)
        async with db.transaction(all_tenants=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == "ccas-test-apply"))
            tenant.primary_color = "#5b2a86"  # as the administrator sets it on screen
            # a file's holder and address, a service's name, changed on their pages
            marty = await session.scalar(
                select(ServiceAccount).where(
                    ServiceAccount.tenant_id == tenant.id,
                    ServiceAccount.reference == "AS-2019-0413",
                )
            )
            marty.holder_name, marty.postal_address = "M. MARTY Jean", "2 rue Neuve\n81100 CASTRES"
            cecile = await session.scalar(
                select(ServiceAccount).where(
                    ServiceAccount.tenant_id == tenant.id,
                    ServiceAccount.reference == "AS-2019-0412",
                )
            )
            cecile_key = cecile.key_digest
            cecile.key_digest = "0" * 64  # a key the file does not give: the file's comes back
            service = await session.scalar(
                select(Service).where(
                    Service.tenant_id == tenant.id, Service.code == "action-sociale"
                )
            )
            service.name = "Action sociale et solidarités"
        assert await _apply(settings, folder) == ["access key action-sociale/AS-2019-0412: updated"]
        async with db.session(all_tenants=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == "ccas-test-apply"))
            assert tenant.primary_color == "#5b2a86"
            marty = await session.get(ServiceAccount, marty.id)
            assert (marty.holder_name, marty.postal_address) == (
                "M. MARTY Jean",
                "2 rue Neuve\n81100 CASTRES",
            )
            assert (await session.get(ServiceAccount, cecile.id)).key_digest == cecile_key
            assert (await session.get(Service, service.id)).name == "Action sociale et solidarités"
        path = folder / "tenant.toml"
        path.write_text(
            path.read_text().replace('phone = "05 63 71 56 13"', 'phone = "05 63 11 11 11"')
        )
        changes = await _apply(settings, folder)
        assert "tenant ccas-test-apply: contact_phone changed" in changes
        assert "tenant ccas-test-apply: primary_color changed" in changes  # the file wins
        assert "access key action-sociale/AS-2019-0413: updated" in changes
        assert "service action-sociale: updated" in changes
        async with db.session(all_tenants=True) as session:
            marty = await session.get(ServiceAccount, marty.id)
            assert (marty.holder_name, marty.postal_address) == (
                "Monsieur MARTY Jean",
                "5 rue Villegoudou\n81100 CASTRES",
            )
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()


async def test_a_changed_file_leaves_alone_the_fields_it_does_not_state(backend, folder):
    """An operator's first `tenants apply` after onboarding on screen reset what the file did
    not mention (the logo the administrator had uploaded, a welcome title) to the defaults:
    a changed file now sets what it states and nothing else (a tester's walk)."""
    settings = backend.settings
    path = folder / "tenant.toml"
    path.write_text(
        path.read_text()
        .replace('logo = "logo.svg"\n', "")
        .replace('logo_alt = "CCAS Castres"\n', "")
    )
    db = Database(settings)
    try:
        await _apply(settings, folder)
        screen = {
            "logo_file": "tenants/ccas-test-apply/logo-from-screen.png",
            "logo_hash": "a" * 64,
            "logo_media_type": "image/png",
            "logo_alt": "Logo du CCAS",
            "welcome_title": "Bienvenue sur votre portail",
            "password_min_uppercase": 1,
        }
        async with db.transaction(all_tenants=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == "ccas-test-apply"))
            assert (tenant.logo_file, tenant.welcome_title) == ("", "")  # the file has none
            for name, value in screen.items():  # as the administrator sets them on screen
                setattr(tenant, name, value)
        path.write_text(
            path.read_text().replace('phone = "05 63 71 56 13"', 'phone = "05 63 22 22 22"')
        )
        changes = await _apply(settings, folder)
        assert "tenant ccas-test-apply: contact_phone changed" in changes
        assert not [change for change in changes if any(name in change for name in screen)]
        async with db.session(all_tenants=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == "ccas-test-apply"))
            assert tenant.contact_phone == "05 63 22 22 22"
            assert {name: getattr(tenant, name) for name in screen} == screen
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()


async def test_a_ledger_keeps_what_was_set_on_screen_and_the_file_leaves_out(backend, folder):
    """The same for a ledger: its bank label, online payment and limits set in Facturation
    stay when the file does not state them; what the file states (the cheques' payee) is set."""
    from guichet.billing.models import Ledger

    settings = backend.settings
    path = folder / "tenant.toml"
    db = Database(settings)
    try:
        await _apply(settings, folder)

        async def ledger():
            async with db.session(all_tenants=True) as session:
                return await session.scalar(
                    select(Ledger)
                    .join(Tenant, Tenant.id == Ledger.tenant_id)
                    .where(Tenant.slug == "ccas-test-apply", Ledger.code == "seniors")
                )

        first = await ledger()
        assert first.cheque_payee == "Régie Service Séniors CCAS de Castres"
        assert (first.merchant_label, first.online_payment) == ("CCAS CASTRES VADS", True)
        screen = {"merchant_label": "CCAS CASTRES EN LIGNE", "online_payment": False}
        async with db.transaction(all_tenants=True) as session:
            row = await session.get(Ledger, first.id)
            for name, value in screen.items():
                setattr(row, name, value)
            row.min_amount_cents = 250
        path.write_text(
            path.read_text()
            .replace('merchant_label = "CCAS CASTRES VADS"\n', "")
            .replace("online_payment = true\n", "")
            .replace("min_amount_cents = 100\n", "")
            .replace(
                'cheque_payee = "Régie Service Séniors CCAS de Castres"',
                'cheque_payee = "Trésor public"',
            )
        )
        changes = await _apply(settings, folder)
        assert "ledger seniors: cheque_payee changed" in changes, changes
        after = await ledger()
        assert after.cheque_payee == "Trésor public"
        assert {name: getattr(after, name) for name in screen} == screen
        assert after.min_amount_cents == 250
        # a field the file states wins over the screen, as for the tenant
        path.write_text(
            path.read_text().replace("max_amount_cents = 100000", "max_amount_cents = 90000")
        )
        await _apply(settings, folder)
        assert (await ledger()).max_amount_cents == 90000
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()


async def test_the_same_file_applied_again_keeps_a_ledger_as_set_on_screen(backend, folder):
    """`make run` applies the demo's file at every start: a ledger's label, payee or limits
    that an agent changed in Facturation stay while the file is the one applied last."""
    from guichet.billing.models import Ledger

    settings = backend.settings
    db = Database(settings)
    try:
        await _apply(settings, folder)
        async with db.transaction(all_tenants=True) as session:
            ledger = await session.scalar(
                select(Ledger)
                .join(Tenant, Tenant.id == Ledger.tenant_id)
                .where(Tenant.slug == "ccas-test-apply", Ledger.code == "seniors")
            )
            ledger.merchant_label, ledger.cheque_payee = "ÉCRAN", "Régie (écran)"
            ledger_id = ledger.id
        assert not [c for c in await _apply(settings, folder) if c.startswith("ledger")]
        async with db.session(all_tenants=True) as session:
            again = await session.get(Ledger, ledger_id)
            assert (again.merchant_label, again.cheque_payee) == ("ÉCRAN", "Régie (écran)")
    finally:
        await _cleanup(settings, "ccas-test-apply")
        await db.dispose()
