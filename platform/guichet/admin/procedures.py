"""The procedure editor (``/{tenant}/admin/demarches``): a procedure's title, description, who
may submit it, its processing time, its statuses, its fields and the documents it asks for.

Each change is checked in French for the administrator, then by the same rules as
``tenant.toml`` (``procedures/catalog.py:parse_procedures``), so a procedure made on screen is
always one the file could hold. Drafts already started keep their answers: a removed field's
answer is ignored, a field whose kind changed shows empty.
"""

from __future__ import annotations

import math
import re
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.admin.content import long_text
from guichet.admin.controllers import _text
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.procedures.catalog import _PREFILL_KINDS, RESERVED_CODES, parse_procedures
from guichet.procedures.models import FIELD_KINDS, Procedure, RequestStatus
from guichet.procedures.services import STATUS_LABELS
from guichet.staff.models import StaffUser
from guichet.staff.web import require_staff, staff_audit, staff_page

__all__ = ["ProcedureEditorController"]


KIND_LABELS = {
    "text": N_("texte court"),
    "long_text": N_("texte long"),
    "date": N_("date"),
    "number": N_("nombre"),
    "email": N_("courriel"),
    "phone": N_("téléphone"),
    "choice": N_("choix dans une liste"),
    "checkboxes": N_("cases à cocher"),
    "address": N_("adresse"),
    "document": N_("document"),
}
PREFILL_LABELS = {
    "full_name": N_("nom et prénom"),
    "first_name": N_("prénom"),
    "last_name": N_("nom"),
    "birth_date": N_("date de naissance"),
    "email": N_("courriel"),
    "phone": N_("téléphone"),
    "mobile": N_("mobile"),
    "address": N_("adresse"),
}
_CODE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def as_entry(procedure: Procedure) -> dict[str, Any]:
    """The procedure as a ``[[procedures]]`` entry of ``tenant.toml``."""
    return {
        "code": procedure.code,
        "title": procedure.title,
        "description": procedure.description,
        "account_required": procedure.account_required,
        "processing_days": procedure.processing_days,
        "statuses": list(procedure.statuses),
        "active": procedure.active,
        "fields": [
            {k: v for k, v in f.items() if v not in (None, "", [])} for f in procedure.fields
        ],
        "documents": [dict(d) for d in procedure.documents],
    }


KEY_HINT = N_("Lettres minuscules, chiffres et _ (une lettre d'abord), par exemple « date_debut ».")
KEY_HINT_SHORT = N_("lettres minuscules, chiffres et _ (une lettre d'abord)")


def checked(entry: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The entry as the catalog would apply it, or the catalog's problems in words the staff
    read (« Champ « Revenus » — maximum : au moins le minimum. »)."""
    problems: list[tuple[str, str]] = []
    parsed = parse_procedures([entry], problems)
    if problems or not parsed:
        return None, [problem_in_words(entry, where, reason) for where, reason in problems]
    return parsed[0], []


# The catalog checks a procedure for tenant.toml and says what is wrong in English, by the
# path of the value (procedures[0].fields[1].max); the editor says it in the staff's words.
_PARTS = {
    "max": N_("maximum"),
    "min": N_("minimum"),
    "integer": N_("nombre entier"),
    "key": N_("nom technique"),
    "label": N_("libellé"),
    "kind": N_("type"),
    "hint": N_("aide"),
    "choices": N_("choix"),
    "prefill": N_("prérempli avec"),
    "required": N_("obligatoire"),
    "title": N_("titre"),
    "description": N_("présentation"),
    "processing_days": N_("délai de traitement"),
    "code": N_("adresse de la démarche"),
    "statuses": N_("états possibles"),
    "documents": N_("pièces demandées"),
    "fields": N_("champs"),
}
_REASONS = {
    "at least min": N_("au moins le minimum"),
    "required": N_("obligatoire"),
    "a number": N_("un nombre"),
    "a text": N_("un texte"),
    "unknown field": N_("inconnu"),
    "lowercase letters, digits and _ (a letter first)": KEY_HINT_SHORT,
    "lowercase letters, digits and hyphens": N_("lettres minuscules, chiffres et tirets"),
    "min, max and integer are for number fields": N_(
        "minimum, maximum et nombre entier ne valent que pour un champ nombre"
    ),
    "only for the kinds choice and checkboxes": N_("seulement pour un choix ou des cases"),
    "two documents have the same key": N_("deux pièces ont le même nom technique"),
    "a number of days from 0 to 365": N_("un nombre de jours de 0 à 365"),
    "true or false (without quotes)": N_("oui ou non"),
}
_WHERE = re.compile(r"^procedures\[\d+\](?:\.(fields|documents)\[(\d+)\])?(?:\.(\w+))?$")


def problem_in_words(entry: dict[str, Any], where: str, reason: str) -> str:
    """One of the catalog's problems as a sentence of the editor."""
    match = _WHERE.match(where)
    if match is None:
        return f"{where} : {reason}"
    part, index, attribute = match.groups()
    place = ""
    if part is not None:
        items = entry.get(part) or []
        position = int(index)
        name = items[position].get("label") if position < len(items) else ""
        place = (
            _("Champ « %(name)s »", name=name or position + 1)
            if part == "fields"
            else _("Pièce « %(name)s »", name=name or position + 1)
        )
    if attribute:
        what = _(_PARTS[attribute]) if attribute in _PARTS else attribute
        place = f"{place} — {what}" if place else what[:1].upper() + what[1:]
    return f"{place} : {_reason_in_words(reason)}"


def _reason_in_words(reason: str) -> str:
    if reason in _REASONS:
        return _(_REASONS[reason])
    if found := re.fullmatch(r"(\d+) characters at most", reason):
        return _("%(count)s caractères au plus", count=found.group(1))
    if found := re.fullmatch(r"(\S+) is used twice", reason):
        return _("le nom technique %(key)s sert deux fois", key=found.group(1))
    if found := re.fullmatch(r"key (\S+) is also a field's", reason):
        return _("le nom technique %(key)s est aussi celui d'un champ", key=found.group(1))
    if found := re.fullmatch(r"one of (.+)", reason):
        return _("une valeur parmi : %(values)s", values=found.group(1))
    if found := re.fullmatch(r"a \w+ field can take (.+)", reason):
        return _("ce type de champ peut être prérempli avec : %(values)s", values=found.group(1))
    return reason


def field_from_form(form: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(the field as the catalog holds it, what was typed, errors beside the fields)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "key": _text(form, "key", 40).lower(),
        "label": _text(form, "label", 200),
        "kind": _text(form, "kind", 20),
        "hint": _text(form, "hint", 300),
        "prefill": _text(form, "prefill", 20),
        "choices_text": long_text(form, "choices", 3000, errors),
        "min": _text(form, "min", 15),
        "max": _text(form, "max", 15),
        "required": form.get("required") == "oui",
        "integer": form.get("integer") == "oui",
    }
    if not _KEY.fullmatch(values["key"]):
        errors["key"] = _(KEY_HINT)
    if not values["label"]:
        errors["label"] = _("Ce champ est obligatoire.")
    if values["kind"] not in FIELD_KINDS:
        errors["kind"] = _("Choisissez le type dans la liste.")
    choices = [c.strip() for c in values["choices_text"].splitlines() if c.strip()]
    if values["kind"] in ("choice", "checkboxes"):
        if len(choices) < 2 or len(set(choices)) != len(choices):
            errors["choices"] = _("Au moins deux choix différents, un par ligne.")
    if values["prefill"] and values["prefill"] not in _PREFILL_KINDS.get(values["kind"], set()):
        errors["prefill"] = _("Ce champ ne peut pas être prérempli par cette information.")
    field: dict[str, Any] = {
        "key": values["key"],
        "label": values["label"],
        "kind": values["kind"],
        "required": values["required"],
    }
    if values["hint"]:
        field["hint"] = values["hint"]
    if values["prefill"]:
        field["prefill"] = values["prefill"]
    if values["kind"] in ("choice", "checkboxes"):
        field["choices"] = choices
    if values["kind"] == "number":
        for bound in ("min", "max"):
            if values[bound]:
                try:
                    number = float(values[bound].replace(",", "."))
                    if not math.isfinite(number) or abs(number) > 1e12:
                        raise ValueError(values[bound])
                    field[bound] = int(number) if number.is_integer() else number
                except ValueError:
                    errors[bound] = _("Écrivez un nombre, par exemple 120 ou 85,50.")
        if values["integer"]:
            field["integer"] = True
    return field, values, errors


class ProcedureEditorController(Controller):
    path = "/admin/demarches"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _procedure(self, ctx: AccountsContext, code: str) -> Procedure:
        procedure = await ctx.db.scalar(
            select(Procedure).where(
                Procedure.tenant_id == ctx.tenant.id, Procedure.code == code[:60]
            )
        )
        if procedure is None:
            raise NotFoundException()
        return procedure

    @get("/", name="admin:procedures")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._index_page(ctx, staff, {}, {})

    async def _index_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        procedures = list(
            (
                await ctx.db.execute(
                    select(Procedure)
                    .where(Procedure.tenant_id == ctx.tenant.id)
                    .order_by(Procedure.position, Procedure.title)
                )
            ).scalars()
        )
        return await staff_page(
            ctx,
            "admin/procedures.html",
            staff,
            status_code=status_code,
            procedures=procedures,
            values=values,
            errors=errors,
            page_title=_("Démarches"),
        )

    @post("/", name="admin:procedure_create")
    async def create(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        values = {"code": _text(form, "code", 60).lower(), "title": _text(form, "title", 200)}
        errors: dict[str, str] = {}
        if not _CODE.fullmatch(values["code"]) or values["code"] in RESERVED_CODES:
            errors["code"] = _(
                "Lettres minuscules, chiffres et tirets, par exemple « colis-noel »."
            )
        elif await ctx.db.scalar(
            select(Procedure.id).where(
                Procedure.tenant_id == ctx.tenant.id, Procedure.code == values["code"]
            )
        ):
            errors["code"] = _("Ce code est déjà celui d'une démarche.")
        if not values["title"]:
            errors["title"] = _("Ce champ est obligatoire.")
        if errors:
            return await self._index_page(ctx, staff, values, errors, status_code=400)
        position = await ctx.db.scalar(
            select(func.coalesce(func.max(Procedure.position), 0)).where(
                Procedure.tenant_id == ctx.tenant.id
            )
        )
        ctx.db.add(
            Procedure(
                tenant_id=ctx.tenant.id,
                code=values["code"],
                title=values["title"],
                description="",
                statuses=[s.value for s in RequestStatus],
                fields=[],
                documents=[],
                active=False,  # offered once its form is ready
                position=int(position or 0) + 1,
            )
        )
        staff_audit(ctx, staff, "procedure.created", values["code"])
        try:
            await ctx.db.commit()
        except IntegrityError:  # the same code created meanwhile (a double click)
            await ctx.db.rollback()
            return await ctx.redirect(f"/admin/demarches/{values['code']}")
        ctx.flash(
            _("La démarche est créée, hors ligne : ajoutez ses champs puis mettez-la en ligne."),
            "success",
        )
        return await ctx.redirect(f"/admin/demarches/{values['code']}")

    async def _editor(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        procedure: Procedure,
        status_code: int = 200,
        general: dict[str, Any] | None = None,
        field: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        problems: list[str] | None = None,
    ) -> Response[Any]:
        return await staff_page(
            ctx,
            "admin/procedure.html",
            staff,
            status_code=status_code,
            procedure=procedure,
            general=general
            or {
                "title": procedure.title,
                "description": procedure.description,
                "account_required": procedure.account_required,
                "processing_days": str(procedure.processing_days),
                "active": procedure.active,
                "statuses": list(procedure.statuses),
            },
            field=field or {"kind": "text"},
            errors=errors or {},
            problems=problems or [],
            kinds=[(k, _(v)) for k, v in KIND_LABELS.items()],
            kind_labels=KIND_LABELS,
            prefills=[(k, _(v)) for k, v in PREFILL_LABELS.items()],
            status_labels=STATUS_LABELS,
            all_statuses=[s for s in RequestStatus if s != RequestStatus.DRAFT],
            page_title=procedure.title,
        )

    @get("/{code:str}", name="admin:procedure")
    async def edit(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._editor(ctx, staff, await self._procedure(ctx, code))

    async def _apply(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        procedure: Procedure,
        entry: dict[str, Any],
        action: str,
        **page: Any,
    ) -> Response[Any]:
        parsed, problems = checked(entry)
        if parsed is None:
            return await self._editor(
                ctx, staff, procedure, status_code=400, problems=problems, **page
            )
        for name in (
            "title",
            "description",
            "account_required",
            "processing_days",
            "fields",
            "documents",
            "statuses",
            "active",
        ):
            setattr(procedure, name, parsed[name])
        staff_audit(ctx, staff, f"procedure.{action}", procedure.code)
        await ctx.db.commit()
        ctx.flash(_("La démarche est enregistrée."), "success")
        return await ctx.redirect(f"/admin/demarches/{procedure.code}")

    @post("/{code:str}/general", name="admin:procedure_general")
    async def general(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        procedure = await self._procedure(ctx, code)
        form = await ctx.request.form()
        chosen = form.getall("statuses", []) if hasattr(form, "getall") else []
        errors: dict[str, str] = {}
        general: dict[str, Any] = {
            "title": _text(form, "title", 200),
            "description": long_text(form, "description", 10_000, errors),
            "account_required": form.get("account_required") == "oui",
            "processing_days": _text(form, "processing_days", 3),
            "active": form.get("active") == "oui",
            "statuses": [s.value for s in RequestStatus if s.value in chosen],
        }
        if not general["title"]:
            errors["title"] = _("Ce champ est obligatoire.")
        days = str(general["processing_days"] or "0")
        if not days.isascii() or not days.isdigit() or int(days) > 365:
            errors["processing_days"] = _("Un nombre de jours de 0 à 365 (0 : non annoncé).")
        if "transmise" not in general["statuses"]:
            errors["statuses"] = _("« Transmise » est l'état de toute demande envoyée : gardez-le.")
        if general["active"] and not procedure.fields and not procedure.documents:
            errors["active"] = _("Ajoutez au moins un champ avant de mettre la démarche en ligne.")
        if errors:
            return await self._editor(
                ctx, staff, procedure, status_code=400, general=general, errors=errors
            )
        entry = as_entry(procedure) | {
            **{k: general[k] for k in ("title", "description", "account_required", "active")},
            "processing_days": int(days),
            "statuses": general["statuses"],
        }
        return await self._apply(ctx, staff, procedure, entry, "changed", general=general)

    @post("/{code:str}/champs", name="admin:procedure_field")
    async def add_field(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """Add a field, or replace the field of the same key (the « Modifier » form)."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        procedure = await self._procedure(ctx, code)
        form = await ctx.request.form()
        field, values, errors = field_from_form(form)
        replacing = form.get("replace") == "oui"
        keys = [f["key"] for f in procedure.fields] + [d["key"] for d in procedure.documents]
        document_keys = [d["key"] for d in procedure.documents]
        if not errors and (
            (field["key"] in keys and not replacing) or field["key"] in document_keys
        ):
            errors["key"] = _("Ce nom technique est déjà celui d'un champ de la démarche.")
        if errors:
            return await self._editor(
                ctx, staff, procedure, status_code=400, field=values, errors=errors
            )
        entry = as_entry(procedure)
        if replacing and field["key"] in [f["key"] for f in entry["fields"]]:
            entry["fields"] = [field if f["key"] == field["key"] else f for f in entry["fields"]]
        else:
            entry["fields"].append(field)
        return await self._apply(ctx, staff, procedure, entry, "field_saved", field=values)

    @post("/{code:str}/champs/{key:str}", name="admin:procedure_field_action")
    async def field_action(
        self, ctx: AccountsContext, code: FromPath[str], key: FromPath[str]
    ) -> Response[Any]:
        """Move a field up or down, or remove it; the same for a document asked for."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        procedure = await self._procedure(ctx, code)
        form = await ctx.request.form()
        action = form.get("action")
        entry = as_entry(procedure)
        for part in ("fields", "documents"):
            items = entry[part]
            index = next((i for i, f in enumerate(items) if f["key"] == key), None)
            if index is None:
                continue
            if action == "supprimer":
                items.pop(index)
            elif action == "monter" and index > 0:
                items[index - 1], items[index] = items[index], items[index - 1]
            elif action == "descendre" and index < len(items) - 1:
                items[index + 1], items[index] = items[index], items[index + 1]
            return await self._apply(ctx, staff, procedure, entry, f"field_{action}")
        raise NotFoundException()

    @post("/{code:str}/pieces", name="admin:procedure_document")
    async def add_document(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        procedure = await self._procedure(ctx, code)
        form = await ctx.request.form()
        key, label = _text(form, "doc_key", 40).lower(), _text(form, "doc_label", 200)
        document = {"key": key, "label": label, "required": form.get("doc_required") == "oui"}
        errors: dict[str, str] = {}
        keys = [f["key"] for f in procedure.fields] + [d["key"] for d in procedure.documents]
        if not _KEY.fullmatch(key):
            errors["doc_key"] = _(KEY_HINT)
        elif key in keys:
            errors["doc_key"] = _("Ce nom technique est déjà celui d'un champ de la démarche.")
        if not label:
            errors["doc_label"] = _("Ce champ est obligatoire.")
        if errors:
            return await self._editor(ctx, staff, procedure, status_code=400, errors=errors)
        entry = as_entry(procedure)
        entry["documents"].append(document)
        return await self._apply(ctx, staff, procedure, entry, "document_added")
