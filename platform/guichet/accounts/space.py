"""MON ACCUEIL (guide §4) and Coordonnées: the citizen's dashboard and contact details."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, date, datetime
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
    "payment_started": N_("Paiement en ligne"),  # its outcome in the detail
    "request_sent": N_("Envoi d'une demande"),
    "paperless_changed": N_("Adhésion à la facture en ligne modifiée"),
    "deleted": N_("Suppression de l'espace"),
    "staff_verrouiller": N_("Espace verrouillé par nos services"),
    "staff_deverrouiller": N_("Espace déverrouillé par nos services"),
    "staff_activation": N_("Lien d'activation envoyé de nouveau par nos services"),
}


# The names of "Mes coordonnées", for its error summary and for the history's lines.
FIELD_LABELS = {
    "civility": N_("Civilité"),
    "last_name": N_("Nom usuel"),
    "birth_name": N_("Nom de naissance"),
    "first_names": N_("Prénom(s)"),
    "birth_date": N_("Date de naissance"),
    "birth_country": N_("Pays de naissance"),
    "birth_department": N_("Département de naissance"),
    "birth_commune": N_("Commune de naissance"),
    "photo": N_("Photo"),
    "street_number": N_("Numéro"),
    "street_number_suffix": N_("Complément du numéro"),
    "street_name": N_("Nom de la voie"),
    "building": N_("Bâtiment"),
    "apartment": N_("Appartement"),
    "address_complement": N_("Complément"),
    "postcode": N_("Code postal"),
    "city": N_("Ville"),
    "country": N_("Pays"),
    "phone": N_("Téléphone"),
    "mobile": N_("Mobile"),
    "fax": N_("Fax"),
    "preferred_contact": N_("Moyen de contact préféré"),
}
CONTACT_MEANS = {
    "email": N_("Courriel"),
    "phone": N_("Téléphone"),
    "mobile": N_("Mobile"),
    "fax": N_("Fax"),
}
PAYMENT_OUTCOMES = {
    "pending": N_("en attente de la réponse de la banque"),
    "paid": N_("paiement accepté"),
    "refused": N_("paiement refusé par la banque"),
    "cancelled": N_("paiement annulé"),
    "expired": N_("paiement non terminé"),
    "error": N_("paiement non abouti (erreur de la banque)"),
}


def field_labels() -> dict[str, str]:
    return {name: _(label) for name, label in FIELD_LABELS.items()}


def _shown(field: str, value: str, locale: str) -> str:
    """A value of "Mes coordonnées" as the page shows it (a country's name, not its code)."""
    if not value:
        return value
    if field in ("country", "birth_country"):
        return dict(geo.countries(locale)).get(value, value)
    if field == "birth_department":
        return dict(geo.departements()).get(value, value)
    if field == "preferred_contact":
        return _(CONTACT_MEANS[value]) if value in CONTACT_MEANS else value
    if field == "birth_date":
        try:
            return i18n.format_date(date.fromisoformat(value))
        except ValueError:
            return value
    return value


def history_lines(
    event: CitizenEvent, outcomes: dict[str, str], locale: str, labels: dict[str, str]
) -> list[str]:
    """What the history says of an event, beside its label: each change of "Mes
    coordonnées" with the names and values the page shows, a payment's invoice, amount and
    outcome (``outcomes``: the attempt's status by reference; ``labels``: field_labels(), made
    once per page)."""
    detail = event.detail or {}
    kind = event.kind.split(":")[0]
    if kind == "details_changed":
        return [
            (_("Photo ajoutée") if change.get("to") else _("Photo retirée"))
            if name == "photo"
            else _(
                "%(field)s : « %(old)s » → « %(new)s »",
                field=labels.get(name, name),
                old=_shown(name, str(change.get("from", "")), locale),
                new=_shown(name, str(change.get("to", "")), locale),
            )
            for name, change in detail.items()
            if isinstance(change, dict)
        ]
    if kind == "payment_started" and "invoice" in detail:
        status = outcomes.get(str(detail.get("reference", "")), "")
        line = _(
            "Facture %(number)s : %(amount)s",
            number=detail["invoice"],
            amount=i18n.format_money(int(detail.get("amount_cents", 0))),
        )
        return [f"{line} — {_(PAYMENT_OUTCOMES[status])}" if status in PAYMENT_OUTCOMES else line]
    if kind == "paperless_changed":
        if detail.get("paperless"):
            return [_("Adhérent : factures envoyées à %(email)s", email=detail.get("email", ""))]
        return [_("Non adhérent : factures envoyées par courrier")]
    if kind in ("username_changed", "email_changed") and "to" in detail:
        return [_("« %(old)s » → « %(new)s »", old=detail.get("from", ""), new=detail["to"])]
    if kind == "email_change_requested" and "to" in detail:
        return [str(detail["to"])]
    if kind == "service_linked" and "reference" in detail:
        return [_("Dossier %(reference)s", reference=detail["reference"])]
    if kind in ("contact_added", "contact_changed", "contact_removed") and detail.get("name"):
        return [str(detail["name"])]
    if kind == "request_sent" and "reference" in detail:
        return [_("Demande %(reference)s", reference=detail["reference"])]
    return []


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
    """MON ACCUEIL's counts in one statement, from the statements their own pages use
    (three statements and every document loaded before: bench/README.md)."""
    from guichet.procedures.services import DRAFTS_OF_CITIZEN, UNREAD_FOR_CITIZEN

    return select(
        unpaid_count_statement().scalar_subquery().label("unpaid"),
        UNREAD_FOR_CITIZEN.scalar_subquery().label("unread"),
        DRAFTS_OF_CITIZEN.scalar_subquery().label("drafts"),
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
            drafts=counts.drafts,
            status_labels=STATUS_LABELS,
            page_title=_("MON ACCUEIL"),
        )

    async def _details_page(
        self,
        ctx: AccountsContext,
        citizen: Citizen,
        status_code: int = 200,
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
            values=merged,
            errors=errors or {},
            countries=geo.countries(locale),
            labels=field_labels(),
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
        files = ctx.request.app.state.services.files
        # One form holds the three sections, so that saving never loses what was typed in one of
        # them: each section that was changed is checked, and all are saved together or none
        # is. A section left as it was is not checked again (data stored under older rules
        # never stops a citizen from changing a phone number).
        cleaners: dict[str, tuple[Any, tuple[str, ...]]] = {
            "identite": (forms.clean_identity, IDENTITY_FIELDS),
            "adresse": (forms.clean_address, ADDRESS_FIELDS),
            "contact": (
                lambda raw: forms.clean_contact({**dict(raw), "email": citizen.email}),
                CONTACT_FIELDS,
            ),
        }
        before = current_values(citizen)
        upload = form.get("photo")
        new_file = isinstance(upload, UploadFile) and bool(upload.filename)
        removing = form.get("remove_photo") == "yes"

        def changed(name: str, fields: tuple[str, ...]) -> bool:
            if name == "identite" and (new_file or removing):
                return True
            return any(str(form.get(f, "")).strip() != before[f] for f in fields if f in form)

        present = [name for name, (_clean, fields) in cleaners.items() if set(fields) & set(form)]
        if not present:
            raise NotFoundException()
        sent = [name for name in present if changed(name, cleaners[name][1])]
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name in sent:
            clean, _fields = cleaners[name]
            section_values, section_errors = clean(form)
            section_errors.pop("email", None)  # changed on the page of the identifiers
            values.update(section_values)
            errors.update(section_errors)
        new_photo = ""
        if "identite" in sent and isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            if content and not errors:
                try:
                    new_photo = await asyncio.to_thread(store_photo, files, ctx.tenant.id, content)
                except PhotoError as exc:
                    errors["photo"] = str(exc)
            elif content:
                errors["photo"] = _(
                    "Choisissez la photo à nouveau une fois les erreurs corrigées "
                    "(un navigateur ne la garde pas)."
                )
        if errors:
            values["remove_photo"] = "yes" if removing else ""
            return await self._details_page(ctx, citizen, 400, values=values, errors=errors)
        saved = False
        old_photo = ""
        for name in sent:
            changes = {}
            for field in cleaners[name][1]:
                old, new = before[field], values.get(field, "")
                if old != new:
                    changes[field] = {"from": old, "to": new}
                    if field == "birth_date":
                        from datetime import date

                        citizen.birth_date = date.fromisoformat(new) if new else None
                    else:
                        setattr(citizen, field, new)
            if name == "identite":
                if new_photo:
                    old_photo, citizen.photo_file = citizen.photo_file, new_photo
                    changes["photo"] = {"from": "", "to": "nouvelle photo"}
                elif form.get("remove_photo") == "yes" and citizen.photo_file:
                    old_photo, citizen.photo_file = citizen.photo_file, ""
                    changes["photo"] = {"from": "photo", "to": ""}
            if changes:
                ctx.accounts.record(citizen, f"details_changed:{name}", changes, ctx.ip)
                saved = True
        if saved:
            await ctx.commit()
            if old_photo:
                await asyncio.to_thread(files.delete, old_photo)
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
        from guichet.billing.models import PaymentTransaction
        from guichet.billing.services import as_utc

        events = await ctx.accounts.events.get_many(
            CitizenEvent.citizen_id == citizen.id,
            LimitOffset(limit=200, offset=0),
            order_by=[(CitizenEvent.created_at, True)],
        )
        events = events[:200]
        references = {
            str(e.detail["reference"])
            for e in events
            if e.kind == "payment_started"
            and isinstance(e.detail, dict)
            and "reference" in e.detail
        }
        outcomes: dict[str, str] = {}
        if references:
            rows = await ctx.db.execute(
                select(
                    PaymentTransaction.reference,
                    PaymentTransaction.status,
                    PaymentTransaction.expires_at,
                ).where(
                    PaymentTransaction.tenant_id == ctx.tenant.id,
                    PaymentTransaction.reference.in_(references),
                )
            )
            moment = datetime.now(UTC)
            # an attempt left at the bank is « non terminé » once its time is over, even
            # before the reconciliation marks it so (it said « en attente » for hours)
            outcomes = {
                reference: "expired"
                if str(status) == "pending" and as_utc(expires) <= moment
                else str(status)
                for reference, status, expires in rows.all()
            }
        locale, labels = i18n.current_locale(), field_labels()
        rows_shown = []
        for event in events:
            kind = event.kind.split(":")[0]
            rows_shown.append(
                {
                    "when": i18n.format_datetime(event.created_at),
                    "label": _(EVENT_LABELS[kind]) if kind in EVENT_LABELS else event.kind,
                    "lines": history_lines(event, outcomes, locale, labels),
                }
            )
        return await private_page(
            ctx,
            "space/history.html",
            citizen,
            events=rows_shown,
            page_title=_("Mon historique"),
        )
