"""Rotating GUICHET_SECRET_KEY: during the rotation (the new key, the previous one in
GUICHET_PREVIOUS_SECRET_KEYS) everything encrypted or keyed under the previous key stays usable;
``guichet secrets reencrypt`` then moves the ledgers' bank options and the second-factor
secrets to the new key, and an access key moves when it is used.

Each run has a database of its own: the command re-encrypts every tenant's secrets."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from sqlalchemy import select

from guichet.accounts.secrets import key_digest
from guichet.accounts.services import AccountService
from guichet.billing.crypto import decrypt_options, encrypt_options
from guichet.billing.models import Ledger
from guichet.db.session import Database
from guichet.staff import twofactor
from guichet.staff.models import StaffUser
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer
from tests.support.billing import tenant_and_service
from tests.support.processes import guichet_cli

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_KEY = "a-new-secret-key-for-the-rotation-test-0123456789"
OPTIONS = {"site": "1999888", "rang": "32", "identifiant": "107904482", "shared_secret": "AB" * 16}
DEMO_TOTP = "GUICHETDEMOAGENTCASTRESDEMOSTAFF"  # tenants/ccas-castres/demo.toml
UNUSED_KEY = "CAST-RES8-1AS2"  # tenants/ccas-castres/tenant.toml


async def add_ledger(db, code: str, options_token: str):
    """A paybox ledger of ccas-castres whose options are ``options_token``; (tenant, service)."""
    async with db.transaction(all_tenants=True) as session:
        tenant, service = await tenant_and_service(session)
        session.add(
            Ledger(
                tenant_id=tenant.id,
                code=code,
                name="Régie",
                service_id=service.id,
                backend="paybox",
                backend_options=options_token,
            )
        )
    return tenant, service


def reencrypt_command(settings, **env: str) -> subprocess.CompletedProcess[str]:
    return guichet_cli(settings, "secrets", "reencrypt", **env)


def rotation_variables(settings) -> dict[str, str]:
    """The variables of the rotation: the new key, the old one kept."""
    return {"GUICHET_SECRET_KEY": NEW_KEY, "GUICHET_PREVIOUS_SECRET_KEYS": settings.web.secret_key}


async def test_a_rotation_keeps_every_secret_usable_then_moves_it(fresh_backend):
    settings = fresh_backend.settings
    old_key = settings.web.secret_key
    rotated = dataclasses.replace(
        settings,
        web=dataclasses.replace(settings.web, secret_key=NEW_KEY, previous_secret_keys=old_key),
    )
    db = Database(settings)
    try:
        tenant, service = await add_ledger(db, "regie-paybox", encrypt_options(old_key, OPTIONS))
        async with db.session(all_tenants=True) as session:
            ledger = await session.scalar(select(Ledger).where(Ledger.code == "regie-paybox"))
            agent = await session.scalar(
                select(StaffUser).where(StaffUser.email == "agent.demo@ccas-castres.example")
            )
        # during the rotation: read with the keys of the rotation, not with the new one alone
        assert decrypt_options(rotated.web.secret_keys, ledger.backend_options) == OPTIONS
        assert twofactor.decrypt_secret(rotated.web.secret_keys, agent.totp_secret) == DEMO_TOTP
        with pytest.raises(ValueError, match="cannot be read"):
            decrypt_options(NEW_KEY, ledger.backend_options)
        with pytest.raises(ValueError, match="cannot be read"):
            twofactor.decrypt_secret(NEW_KEY, agent.totp_secret)

        # an access key issued under the previous key opens, and moves to the new key
        async with db.transaction(tenant.id) as session:
            accounts = AccountService(
                session,
                TenantSnapshot.from_model(tenant),
                rotated,
                TemplateRenderer(settings.themes_dir),
            )
            account = await accounts.find_service_account(service, UNUSED_KEY)
            assert account is not None
            assert account.key_digest == key_digest(NEW_KEY, str(tenant.id), UNUSED_KEY)
        async with db.session(tenant.id) as session:
            new_only = dataclasses.replace(
                settings, web=dataclasses.replace(settings.web, secret_key=NEW_KEY)
            )
            accounts = AccountService(
                session,
                TenantSnapshot.from_model(tenant),
                new_only,
                TemplateRenderer(settings.themes_dir),
            )
            assert await accounts.find_service_account(service, UNUSED_KEY) is not None
            assert await accounts.find_service_account(service, "CAST-RES8-1AS3") is None

        done = reencrypt_command(settings, **rotation_variables(settings))
        assert done.returncode == 0, done.stderr
        assert "re-encrypted with the current key: 1 ledger(s), " in done.stdout
        async with db.session(all_tenants=True) as session:
            ledger = await session.scalar(select(Ledger).where(Ledger.code == "regie-paybox"))
            agent = await session.scalar(
                select(StaffUser).where(StaffUser.email == "agent.demo@ccas-castres.example")
            )
        assert decrypt_options(NEW_KEY, ledger.backend_options) == OPTIONS
        assert twofactor.decrypt_secret(NEW_KEY, agent.totp_secret) == DEMO_TOTP

        again = reencrypt_command(settings, **rotation_variables(settings))
        assert again.returncode == 0, again.stderr
        assert "0 ledger(s), 0 staff and 0 operator second-factor secret(s)" in again.stdout
    finally:
        await db.dispose()


async def test_the_command_names_what_no_key_reads_and_needs_a_previous_key(fresh_backend):
    settings = fresh_backend.settings
    db = Database(settings)
    try:
        lost_key = "a-key-nobody-has-any-more-0123456789"
        await add_ledger(db, "regie-perdue", encrypt_options(lost_key, OPTIONS))
    finally:
        await db.dispose()
    lost = reencrypt_command(settings, **rotation_variables(settings))
    assert lost.returncode == 1
    assert "unreadable with every key, to enter again: ledger ccas-castres/regie-perdue" in (
        lost.stderr
    )
    alone = reencrypt_command(settings)
    assert alone.returncode == 1 and "GUICHET_PREVIOUS_SECRET_KEYS is empty" in alone.stderr
