"""The citizen's contacts: every query is bound to the tenant and to the citizen."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.forms import CIVILITIES, normalize_phone, valid_email
from guichet.contacts.models import Contact, ContactKind
from guichet.db.repository import TenantRepository
from guichet.i18n import N_
from guichet.i18n import gettext as _

__all__ = ["KIND_LABELS", "ContactRepository", "ContactService", "clean_contact_form"]


KIND_LABELS = {
    ContactKind.SPOUSE: N_("Conjoint"),
    ContactKind.CHILD: N_("Enfant"),
    ContactKind.HOUSEHOLD: N_("Membre du foyer"),
    ContactKind.EMERGENCY: N_("Contact à prévenir"),
    ContactKind.DOCTOR: N_("Médecin"),
    ContactKind.HOME_HELP: N_("Service d'aide à domicile"),
    ContactKind.OTHER: N_("Autre"),
}
_PHONE = re.compile(r"^(?:0[1-9](?:\d{2}){4}|\+\d{6,15})$")


class ContactRepository(TenantRepository[Contact]):
    model_type = Contact


def clean_contact_form(raw: Any) -> tuple[dict[str, str], dict[str, str]]:
    def get(name: str, limit: int) -> str:
        value = raw.get(name, "")
        return value.strip()[:limit] if isinstance(value, str) else ""

    values = {
        "kind": get("kind", 30),
        "civility": get("civility", 20),
        "last_name": get("last_name", 100),
        "first_name": get("first_name", 100),
        "relation": get("relation", 100),
        "phone": get("phone", 30),
        "mobile": get("mobile", 30),
        "email": get("email", 254),
        "address": get("address", 500),
        "note": get("note", 2000),
    }
    errors: dict[str, str] = {}
    if values["kind"] not in {k.value for k in ContactKind}:
        errors["kind"] = _("Choisissez le lien avec cette personne dans la liste.")
    if values["civility"] and values["civility"] not in CIVILITIES:
        errors["civility"] = _("Choisissez une valeur dans la liste.")
    if not values["first_name"] and not values["last_name"]:
        errors["first_name"] = _("Indiquez au moins le prénom ou le nom de la personne.")
    for name in ("phone", "mobile"):
        if values[name] and not _PHONE.match(normalize_phone(values[name])):
            errors[name] = _(
                "Numéro invalide : 10 chiffres (05 63 71 56 13) ou au format "
                "international (+33 5 63 71 56 13)."
            )
    if values["email"] and not valid_email(values["email"]):
        errors["email"] = _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
    return values, errors


# Built once with bound parameters (the tenant is always one): see accounts/services.py.
_MINE = (
    select(Contact)
    .where(
        Contact.tenant_id == bindparam("tenant_id"), Contact.citizen_id == bindparam("citizen_id")
    )
    .order_by(Contact.created_at)
)


class ContactService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.citizen_id = citizen_id
        self.repository = ContactRepository(session=session, tenant_id=tenant_id)

    async def list(self) -> list[Contact]:
        parameters = {"tenant_id": self.tenant_id, "citizen_id": self.citizen_id}
        return list((await self.session.execute(_MINE, parameters)).scalars())

    async def get(self, contact_id: uuid.UUID) -> Contact | None:
        """The contact, only if it is this citizen's (None otherwise: a 404 for the caller)."""
        return await self.repository.get_one_or_none(id=contact_id, citizen_id=self.citizen_id)

    async def add(self, values: dict[str, str]) -> Contact:
        contact = Contact(citizen_id=self.citizen_id, **_model_values(values))
        return await self.repository.add(contact)

    async def update(self, contact: Contact, values: dict[str, str]) -> None:
        for name, value in _model_values(values).items():
            setattr(contact, name, value)

    async def delete(self, contact: Contact) -> None:
        await self.repository.delete(contact.id)


def _model_values(values: dict[str, str]) -> dict[str, Any]:
    return {**values, "kind": ContactKind(values["kind"])}
