"""Contacts pages: list, add, change, remove (with confirmation)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import select

from guichet.accounts.forms import CIVILITIES
from guichet.accounts.models import Citizen, CitizenEvent
from guichet.accounts.web import AccountsContext, private_page, provide_ctx, require_citizen
from guichet.contacts.models import ContactKind
from guichet.contacts.services import KIND_LABELS, ContactService, clean_contact_form
from guichet.i18n import gettext as _

__all__ = ["ContactsController"]

LABELS = {
    "kind": "Lien",
    "civility": "Civilité",
    "last_name": "Nom",
    "first_name": "Prénom",
    "relation": "Précision",
    "phone": "Téléphone",
    "mobile": "Mobile",
    "email": "Courriel",
    "address": "Adresse",
    "note": "Note",
}


def kinds() -> list[tuple[str, str]]:
    return [(k.value, _(KIND_LABELS[k])) for k in ContactKind]


def _name(contact: Any) -> str:
    """« Nicolas DUPONT », as her history shows which contact changed."""
    return f"{contact.first_name} {contact.last_name.upper()}".strip()


class ContactsController(Controller):
    path = "/mon-espace/contacts"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _guard(self, ctx: AccountsContext) -> Response[Any] | tuple[Citizen, ContactService]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return citizen, ContactService(ctx.db, ctx.tenant.id, citizen.id)

    def _form_context(self) -> dict[str, Any]:
        return {
            "kinds": kinds(),
            "civilities": [(c, c) for c in CIVILITIES],
            "labels": {k: _(v) for k, v in LABELS.items()},
            "kind_labels": KIND_LABELS,
        }

    @get("/", name="contacts:list")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        return await private_page(
            ctx,
            "contacts/list.html",
            citizen,
            contacts=await service.list(),
            kind_labels=KIND_LABELS,
            page_title=_("Mes contacts"),
        )

    @get("/nouveau", name="contacts:new")
    async def new(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, _service = guard
        return await private_page(
            ctx,
            "contacts/form.html",
            citizen,
            contact=None,
            values={"kind": ctx.request.query_params.get("lien", "")},
            errors={},
            page_title=_("Ajouter un contact"),
            **self._form_context(),
        )

    @post("/nouveau", name="contacts:create")
    async def create(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        values, errors = clean_contact_form(await ctx.request.form())
        if errors:
            return await private_page(
                ctx,
                "contacts/form.html",
                citizen,
                status_code=400,
                contact=None,
                values=values,
                errors=errors,
                page_title=_("Ajouter un contact"),
                **self._form_context(),
            )
        contact = await service.add(values)
        ctx.accounts.record(
            citizen,
            "contact_added",
            {"contact_id": str(contact.id), "kind": values["kind"], "name": _name(contact)},
            ctx.ip,
        )
        await ctx.commit()
        ctx.flash(_("Le contact a été ajouté."), "success")
        return await ctx.redirect("/mon-espace/contacts")

    async def _gone(
        self, ctx: AccountsContext, citizen: Citizen, contact_id: uuid.UUID
    ) -> Response[Any]:
        """A contact that is not there: removed by this citizen (the browser's Back after
        « Oui, supprimer », a second click) is said so on their contacts; anyone else's, or one
        that never was, is not found."""
        removed = await ctx.db.scalars(
            select(CitizenEvent.detail).where(
                CitizenEvent.tenant_id == ctx.tenant.id,
                CitizenEvent.citizen_id == citizen.id,
                CitizenEvent.kind == "contact_removed",
            )
        )
        if not any(detail.get("contact_id") == str(contact_id) for detail in removed):
            raise NotFoundException()
        ctx.flash(_("Ce contact a déjà été supprimé."), "info")
        return await ctx.redirect("/mon-espace/contacts")

    @get("/{contact_id:uuid}", name="contacts:edit")
    async def edit(self, ctx: AccountsContext, contact_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        contact = await service.get(contact_id)
        if contact is None:
            return await self._gone(ctx, citizen, contact_id)
        values = {name: str(getattr(contact, name) or "") for name in LABELS}
        values["kind"] = contact.kind.value
        return await private_page(
            ctx,
            "contacts/form.html",
            citizen,
            contact=contact,
            values=values,
            errors={},
            page_title=_("Modifier un contact"),
            **self._form_context(),
        )

    @post("/{contact_id:uuid}", name="contacts:update")
    async def update(self, ctx: AccountsContext, contact_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        contact = await service.get(contact_id)
        if contact is None:
            return await self._gone(ctx, citizen, contact_id)
        values, errors = clean_contact_form(await ctx.request.form())
        if errors:
            return await private_page(
                ctx,
                "contacts/form.html",
                citizen,
                status_code=400,
                contact=contact,
                values=values,
                errors=errors,
                page_title=_("Modifier un contact"),
                **self._form_context(),
            )
        await service.update(contact, values)
        ctx.accounts.record(
            citizen,
            "contact_changed",
            {"contact_id": str(contact.id), "name": _name(contact)},
            ctx.ip,
        )
        await ctx.commit()
        ctx.flash(_("Le contact a été modifié."), "success")
        return await ctx.redirect("/mon-espace/contacts")

    @get("/{contact_id:uuid}/supprimer", name="contacts:confirm_delete")
    async def confirm_delete(
        self, ctx: AccountsContext, contact_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        contact = await service.get(contact_id)
        if contact is None:
            return await self._gone(ctx, citizen, contact_id)
        return await private_page(
            ctx,
            "contacts/delete.html",
            citizen,
            contact=contact,
            page_title=_("Supprimer un contact"),
        )

    @post("/{contact_id:uuid}/supprimer", name="contacts:delete")
    async def delete(self, ctx: AccountsContext, contact_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        contact = await service.get(contact_id)
        if contact is None:
            return await self._gone(ctx, citizen, contact_id)
        name = _name(contact)
        await service.delete(contact)
        ctx.accounts.record(
            citizen, "contact_removed", {"contact_id": str(contact_id), "name": name}, ctx.ip
        )
        await ctx.commit()
        ctx.flash(_("Le contact a été supprimé."), "success")
        return await ctx.redirect("/mon-espace/contacts")
