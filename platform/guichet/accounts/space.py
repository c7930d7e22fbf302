"""MON ACCUEIL (guide §4) and Coordonnées: the citizen's dashboard and contact details."""

from __future__ import annotations

import asyncio
import functools
from datetime import date
from typing import Any

from advanced_alchemy.filters import LimitOffset
from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from sqlalchemy import Select, select

from guichet import i18n
from guichet.accounts import forms, geo
from guichet.accounts.models import Citizen, CitizenEvent
from guichet.accounts.photos import PhotoError, store_photo
from guichet.accounts.web import AccountsContext, private_page, provide_ctx, require_citizen
from guichet.billing import unpaid_count_statement
from guichet.contacts.services import KIND_LABELS, ContactService
from guichet.documents.services import DOCUMENTS_COUNT, TO_RENEW_COUNT, renew_before
from guichet.i18n import N_
from guichet.i18n import gettext as _

__all__ = ["SpaceController"]

IDENTITY_FIELDS: tuple[str, ...] = (
    "civility",
    "last_name",
    "birth_name",
    "first_names",
    "birth_date",
    "birth_country",
    "birth_department",
    "birth_commune",
)
ADDRESS_FIELDS: tuple[str, ...] = (
    "street_number",
    "street_number_suffix",
    "street_name",
    "building",
    "apartment",
    "address_complement",
    "postcode",
    "city",
    "country",
)
CONTACT_FIELDS: tuple[str, ...] = ("phone", "mobile", "fax", "preferred_contact")


EVENT_LABELS = {
    "created": N_("Création de l'espace"),
    "activated": N_("Activation de l'espace"),
    "login": N_("Connexion"),
    "logout": N_("Déconnexion"),
    "terms_accepted": N_("Acceptation des conditions générales d'utilisation"),
    "service_linked": N_("Service relié par une clé d'accès"),
    "password_reset": N_("Nouveau mot de passe (oubli)"),
    "password_changed": N_("Changement du mot de passe"),
    "username_changed": N_("Changement du nom d'utilisateur"),
    "email_change_requested": N_("Demande de changement du courriel"),
    "email_changed": N_("Changement du courriel"),
    "details_changed": N_("Modification des coordonnées"),
    "contact_added": N_("Ajout d'un contact"),
    "contact_changed": N_("Modification d'un contact"),
    "contact_removed": N_("Suppression d'un contact"),
    "document_added": N_("Ajout d'une pièce justificative"),
    "document_changed": N_("Modification d'une pièce justificative"),
    "document_removed": N_("Suppression d'une pièce justificative"),
    "data_exported": N_("Téléchargement de mes données"),
    "payment_started": N_("Paiement en ligne commencé"),
    "paperless_changed": N_("Adhésion à la facture en ligne modifiée"),
}


def current_values(citizen: Citizen) -> dict[str, str]:
    values = {
        name: str(getattr(citizen, name) or "")
        for name in IDENTITY_FIELDS + ADDRESS_FIELDS + CONTACT_FIELDS
    }
    values["birth_date"] = citizen.birth_date.isoformat() if citizen.birth_date else ""
    values["email"] = citizen.email
    return values


@functools.cache
def _dashboard_counts() -> Select[Any]:
    """MON ACCUEIL's four counts in one statement, from the statements their own pages use
    (three statements and every document loaded before: bench/README.md)."""
    from guichet.procedures.services import UNREAD_FOR_CITIZEN

    return select(
        unpaid_count_statement().scalar_subquery().label("unpaid"),
        UNREAD_FOR_CITIZEN.scalar_subquery().label("unread"),
        DOCUMENTS_COUNT.scalar_subquery().label("documents"),
        TO_RENEW_COUNT.scalar_subquery().label("to_renew"),
    )


class SpaceController(Controller):
    path = "/mon-espace"
    dependencies = {"ctx": Provide(provide_ctx)}

    @get("/", name="accounts:home")
    async def home(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        contacts = await ContactService(ctx.db, ctx.tenant.id, citizen.id).list()
        from guichet.procedures.controllers import request_service
        from guichet.procedures.services import STATUS_LABELS

        requests = request_service(ctx)
        parameters = {
            "tenant_id": ctx.tenant.id,
            "citizen_id": citizen.id,
            "renew_before": renew_before(date.today()),
        }
        counts = (await ctx.db.execute(_dashboard_counts(), parameters)).one()
        return await private_page(
            ctx,
            "space/home.html",
            citizen,
            linked=await ctx.accounts.linked_accounts(citizen),
            contacts=contacts,
            kind_labels=KIND_LABELS,
            unpaid=counts.unpaid,
            documents_count=counts.documents,
            documents_attention=counts.to_renew,
            latest_requests=[
                (r, p)
                for r, p in await requests.citizen_requests(citizen.id, limit=6)
                if r.reference
            ][:2],
            unread_messages=counts.unread,
            status_labels=STATUS_LABELS,
            page_title=_("MON ACCUEIL"),
        )

    async def _details_page(
        self,
        ctx: AccountsContext,
        citizen: Citizen,
        status_code: int = 200,
        section: str = "",
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        locale = i18n.current_locale()
        merged = {**current_values(citizen), **(values or {})}
        return await private_page(
            ctx,
            "space/details.html",
            citizen,
            status_code=status_code,
            section=section,
            values=merged,
            errors=errors or {},
            countries=geo.countries(locale),
            departements=geo.departements(),
            civilities=forms.CIVILITIES,
            suffixes=forms.STREET_SUFFIXES,
            page_title=_("Mes coordonnées"),
        )

    @get("/coordonnees", name="space:details")
    async def details(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return await self._details_page(ctx, citizen)

    @post("/coordonnees", name="space:details_post")
    async def details_post(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        form = await ctx.request.form()
        section = form.get("section", "")
        files = ctx.request.app.state.services.files
        if section == "identite":
            values, errors = forms.clean_identity(form)
            fields = IDENTITY_FIELDS
            upload = form.get("photo")
            new_photo = ""
            if isinstance(upload, UploadFile) and upload.filename and not errors:
                content = await upload.read()
                if content:
                    try:
                        new_photo = await asyncio.to_thread(
                            store_photo, files, ctx.tenant.id, content
                        )
                    except PhotoError as exc:
                        errors["photo"] = str(exc)
        elif section == "adresse":
            values, errors = forms.clean_address(form)
            fields = ADDRESS_FIELDS
        elif section == "contact":
            values, errors = forms.clean_contact({**dict(form), "email": citizen.email})
            errors.pop("email", None)
            fields = CONTACT_FIELDS
        else:
            raise NotFoundException()
        if errors:
            return await self._details_page(ctx, citizen, 400, section, values, errors)
        changes = {}
        for name in fields:
            old = current_values(citizen)[name]
            new = values.get(name, "")
            if old != new:
                changes[name] = {"from": old, "to": new}
                if name == "birth_date":
                    from datetime import date

                    citizen.birth_date = date.fromisoformat(new) if new else None
                else:
                    setattr(citizen, name, new)
        old_photo = ""
        if section == "identite":
            if new_photo:
                old_photo, citizen.photo_file = citizen.photo_file, new_photo
                changes["photo"] = {"from": "", "to": "nouvelle photo"}
            elif form.get("remove_photo") == "yes" and citizen.photo_file:
                old_photo, citizen.photo_file = citizen.photo_file, ""
                changes["photo"] = {"from": "photo", "to": ""}
        if changes:
            ctx.accounts.record(citizen, f"details_changed:{section}", changes, ctx.ip)
            await ctx.commit()
            if old_photo:
                files.delete(old_photo)
            ctx.flash(_("Vos coordonnées sont enregistrées."), "success")
        else:
            ctx.flash(_("Aucune modification : rien n'a changé."), "info")
        return await ctx.redirect("/mon-espace/coordonnees")

    @get("/photo", name="space:photo")
    async def photo(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        if not citizen.photo_file:
            raise NotFoundException()
        data = ctx.request.app.state.services.files.get(citizen.photo_file)
        return await ctx.finish(
            Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
        )

    @get("/historique", name="space:history")
    async def history(self, ctx: AccountsContext) -> Response[Any]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        events = await ctx.accounts.events.get_many(
            CitizenEvent.citizen_id == citizen.id,
            LimitOffset(limit=200, offset=0),
            order_by=[(CitizenEvent.created_at, True)],
        )
        return await private_page(
            ctx,
            "space/history.html",
            citizen,
            events=events[:200],
            event_labels=EVENT_LABELS,
            page_title=_("Mon historique"),
        )
