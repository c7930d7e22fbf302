"""Démarches for citizens: the list, the form (in the personal space or without one), the
summary, sending, and following a request (its history, documents and messages).

A draft lives in the database from the first save; without an account, the browser's session
holds which drafts and which followed requests are its own. Request pages of the space are
reached with the citizen's id as well, so another citizen's request is a 404.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet import i18n
from guichet.accounts import forms as account_forms
from guichet.accounts import geo
from guichet.accounts.forms import valid_email
from guichet.accounts.models import Citizen
from guichet.accounts.space import ADDRESS_FIELDS
from guichet.accounts.web import (
    AccountsContext,
    private_page,
    provide_ctx,
    require_citizen,
    terms_gate,
)
from guichet.documents.models import DocumentKind
from guichet.documents.services import DocumentError, DocumentService
from guichet.i18n import gettext as _
from guichet.notifications.services import enqueue_delivery
from guichet.procedures.forms import _CONTROL, clean_answers, date_example
from guichet.procedures.models import Procedure, ProcedureRequest, RequestStatus
from guichet.procedures.services import (
    MAX_MESSAGE,
    STATUS_LABELS,
    AlreadySent,
    RequestService,
    RequestView,
    answer_rows,
    document_slots,
    first_emergency_contact,
    form_fields,
    format_code,
    normalize_code,
    prefill_values,
    wants_emergency_contact,
)
from guichet.web.pages import download_response, render_page
from guichet.web.ratelimit import Limit

__all__ = ["ProceduresController", "RequestsController", "request_service"]

TRACKING_LIMITS = {
    # lookups from one address (a CCAS office's shared computer follows several requests)
    "ip": Limit("tracking-ip", free=20, window=3600, base=30, cap=3600),
    # guesses on one reference, from anywhere
    "reference": Limit("tracking-ref", free=5, window=3600, base=60, cap=3600),
}
# Requests started and sent without an account, from one address (files and emails cost).
ANONYMOUS_LIMITS = {
    "draft": Limit("anon-draft", free=10, window=3600, base=60, cap=3600),
    "send": Limit("anon-send", free=10, window=3600, base=60, cap=3600),
}
MAX_TRACKED = 10


def request_service(ctx: AccountsContext) -> RequestService:
    services = ctx.request.app.state.services
    return RequestService(ctx.db, ctx.tenant, services.files, services.settings, services.renderer)


def base_url(ctx: AccountsContext) -> str:
    return f"{ctx.accounts.settings.web.public_url}/{ctx.tenant.slug}"


async def commit(ctx: AccountsContext, service: RequestService) -> None:
    await ctx.commit()
    enqueue_delivery(ctx.accounts.settings, service.queued)
    service.queued = []
    await service.forget_files()


def answers_as_form(procedure: Procedure, answers: dict[str, Any]) -> dict[str, Any]:
    """Stored answers in the shape of a submitted form (to check them again before sending)."""
    raw: dict[str, Any] = {}
    for spec in form_fields(procedure):
        value = answers.get(spec["key"])
        if spec["kind"] == "address":
            parts = value if isinstance(value, dict) else {}  # the field's kind may have changed
            for part in ADDRESS_FIELDS:
                raw[f"{spec['key']}-{part}"] = parts.get(part, "")
        elif isinstance(value, list):
            raw[spec["key"]] = value
        elif value is not None:
            raw[spec["key"]] = str(value)
    return raw


def _text(form: Any, name: str, limit: int) -> str:
    """A text field: the first value, line ends as \\n, invisible control characters left out
    (PostgreSQL refuses NUL), at most ``limit`` characters."""
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value.replace("\r\n", "\n")).strip()[:limit]


def scrub(value: Any) -> Any:
    """Answers as they may be stored even when wrong: without control characters."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    return value


async def _uploads(form: Any, name: str) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    values = form.getall(name, []) if hasattr(form, "getall") else [form.get(name)]
    for upload in values:
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            if data:
                files.append((upload.filename, data))
    return files


def _titled(label: str, filename: str) -> str:
    """« Dernier avis d'imposition (avis-2025.pdf) »: the document asked for, and the file the
    citizen chose, so that the summary shows which file went (the name as sent, its folder and
    invisible characters left out)."""
    name = "".join(c for c in filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    name = name.strip()[:80]
    return f"{label} ({name})"[:150] if name else label[:150]


def field_labels(procedure: Procedure) -> dict[str, str]:
    """Error-summary labels: every field, each part of an address, each document."""
    part_labels = {
        "street_number": _("Numéro"),
        "street_number_suffix": _("Complément du numéro"),
        "street_name": _("Nom de la voie"),
        "building": _("Bâtiment"),
        "apartment": _("Appartement"),
        "address_complement": _("Complément"),
        "postcode": _("Code postal"),
        "city": _("Ville"),
        "country": _("Pays"),
    }
    labels: dict[str, str] = {"_email": _("Adresse de courriel"), "_name": _("Nom et prénom")}
    for spec in form_fields(procedure):
        if spec["kind"] == "address":
            for part, text in part_labels.items():
                labels[f"{spec['key']}-{part}"] = f"{spec['label']} — {text}"
        else:
            labels[spec["key"]] = spec["label"]
    for slot in document_slots(procedure):
        labels[f"doc-{slot['key']}"] = slot["label"]
    return labels


async def request_page(
    ctx: AccountsContext,
    service: RequestService,
    view: RequestView,
    citizen: Citizen | None,
    page_base: str,
    status_code: int = 200,
    message_values: dict[str, str] | None = None,
    message_error: str = "",
) -> Response[Any]:
    """A request as its author sees it: statuses with their dates, what was sent, the
    documents, the messages and the form to write (and send complements)."""
    context = {
        "view": view,
        "rows": answer_rows(view.procedure, view.request.answers),
        "slots": document_slots(view.procedure),
        "slot_files": view.slot_files(),
        "message_files": view.message_files(),
        "status_labels": STATUS_LABELS,
        "page_base": page_base,
        "message_values": message_values or {},
        "message_error": message_error,
        "max_mb": ctx.tenant.document_max_bytes // (1024 * 1024),
        "page_title": f"{view.procedure.title} — {view.request.reference or _('Brouillon')}",
    }
    if citizen is not None:
        return await private_page(
            ctx, "procedures/request.html", citizen, status_code=status_code, **context
        )
    response = render_page(
        ctx.request,
        "procedures/request.html",
        status_code=status_code,
        flash=ctx.take_flash(),
        headers={"Cache-Control": "no-store"},
        citizen=None,
        **context,
    )
    return await ctx.finish(response)


async def post_citizen_message(
    ctx: AccountsContext,
    service: RequestService,
    view: RequestView,
    citizen: Citizen | None,
    page_base: str,
) -> Response[Any]:
    if view.request.status == RequestStatus.DRAFT:
        raise NotFoundException()
    form = await ctx.request.form()
    body = _text(form, "body", MAX_MESSAGE + 1)
    uploads = await _uploads(form, "files")
    error = ""
    checked: list[Any] = []
    if len(body) > MAX_MESSAGE:
        error = _("%(count)s caractères au plus.", count=MAX_MESSAGE)
    elif not body and not uploads:
        error = _("Écrivez votre message ou joignez un document.")
    elif view.request.status in (RequestStatus.CLOSED,):
        error = _(
            "Cette demande est clôturée : pour un nouveau besoin, faites une nouvelle demande."
        )
    else:
        checked, error = await service.check_files(uploads)
    if error:
        return await request_page(
            ctx,
            service,
            view,
            citizen,
            page_base,
            status_code=400,
            message_values={"body": body},
            message_error=error,
        )
    await service.post_message(view, body, False, view.request.name, checked, base_url(ctx))
    await commit(ctx, service)
    ctx.flash(_("Votre message est envoyé à nos services."), "success")
    return await ctx.finish(_redirect(page_base))


def _redirect(path: str) -> Response[Any]:
    from litestar.response import Redirect

    return Redirect(path, status_code=303)


def ack_pdf_html(ctx: AccountsContext, view: RequestView) -> str:
    services = ctx.request.app.state.services
    from guichet.billing.pdf import tenant_logo

    logo = tenant_logo(services.files, ctx.tenant)
    return str(
        services.renderer.render(
            ctx.tenant.theme,
            "pdf/request_receipt.html",
            {
                "tenant": ctx.tenant,
                "view": view,
                "rows": answer_rows(view.procedure, view.request.answers),
                "slots": document_slots(view.procedure),
                "slot_files": view.slot_files(),
                "logo": logo,
                "locale": i18n.current_locale(),
            },
        )
    )


async def ack_pdf(ctx: AccountsContext, view: RequestView) -> Response[Any]:
    if view.request.status == RequestStatus.DRAFT or not view.request.reference:
        raise NotFoundException()
    from guichet.billing.pdf import invoice_pdf

    data = await asyncio.to_thread(invoice_pdf, ack_pdf_html(ctx, view))
    name = f"accuse-reception-{view.request.reference}.pdf"
    return await ctx.finish(download_response(data, "application/pdf", name))


async def attachment_download(
    ctx: AccountsContext, service: RequestService, request: ProcedureRequest, attachment_id: Any
) -> Response[Any]:
    attachment = await service.attachment(request, attachment_id)
    if attachment is None:
        raise NotFoundException()
    content = await service.content(attachment)
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
    suffix = extension.get(attachment.media_type, "bin")
    name = f"{request.reference or 'brouillon'}-{str(attachment.id)[:8]}.{suffix}"
    return await ctx.finish(download_response(content, attachment.media_type, name, sandbox=True))


class ProceduresController(Controller):
    """``/demarches``: the list, each form, its summary, sending, and following without an
    account."""

    path = "/demarches"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _page(
        self,
        ctx: AccountsContext,
        template: str,
        citizen: Citizen | None,
        status_code: int = 200,
        **context: Any,
    ) -> Response[Any]:
        context.setdefault("date_example", date_example)
        if citizen is not None:
            return await private_page(ctx, template, citizen, status_code=status_code, **context)
        response = render_page(
            ctx.request,
            template,
            status_code=status_code,
            flash=ctx.take_flash(),
            headers={"Cache-Control": "no-store"},
            citizen=None,
            **context,
        )
        return await ctx.finish(response)

    async def _who(self, ctx: AccountsContext) -> Citizen | Response[Any] | None:
        """The signed-in citizen (sent to accept new terms first), or None."""
        citizen = await ctx.citizen() if ctx.session.citizen_id is not None else None
        if citizen is None:
            return None  # no account, or the session had ended: carry on without one
        return await terms_gate(ctx, citizen)

    async def _open(
        self, ctx: AccountsContext, code: str
    ) -> tuple[RequestService, Procedure, Citizen | None] | Response[Any]:
        service = request_service(ctx)
        procedure = await service.procedure(code)
        if procedure is None:
            raise NotFoundException()
        who = await self._who(ctx)
        if isinstance(who, Response):
            return who
        if procedure.account_required and who is None:
            ctx.flash(
                _(
                    "La démarche « %(title)s » se fait depuis votre espace personnel : "
                    "identifiez-vous, ou créez votre espace.",
                    title=procedure.title,
                ),
                "warning",
            )
            return await ctx.redirect("/")
        return service, procedure, who

    async def _draft(
        self,
        ctx: AccountsContext,
        service: RequestService,
        procedure: Procedure,
        citizen: Citizen | None,
    ) -> ProcedureRequest | None:
        if citizen is not None:
            return await service.draft_for(procedure, citizen.id)
        drafts = ctx.session.get("request_drafts") or {}
        raw = drafts.get(procedure.code)
        if not raw:
            return None
        try:
            draft = await service.anonymous_draft(uuid.UUID(raw))
        except ValueError:
            return None
        if draft is None or draft.status != RequestStatus.DRAFT:
            return None
        return draft

    async def _form_page(
        self,
        ctx: AccountsContext,
        service: RequestService,
        procedure: Procedure,
        citizen: Citizen | None,
        draft: ProcedureRequest | None,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        stored = []
        if citizen is not None:
            files = ctx.request.app.state.services.files
            stored = await DocumentService(ctx.db, ctx.tenant, citizen.id, files).list()
        view = await service.view(draft) if draft is not None else None
        return await self._page(
            ctx,
            "procedures/form.html",
            citizen,
            status_code=status_code,
            procedure=procedure,
            fields=form_fields(procedure),
            slots=document_slots(procedure),
            slot_files=view.slot_files() if view else {},
            stored=stored,
            draft=draft,
            values=values,
            errors=errors,
            labels=field_labels(procedure),
            countries=geo.countries(i18n.current_locale()),
            suffixes=account_forms.STREET_SUFFIXES,
            max_mb=ctx.tenant.document_max_bytes // (1024 * 1024),
            page_title=procedure.title,
        )

    async def _too_many(self, ctx: AccountsContext, wait: int) -> Response[Any]:
        ctx.flash(
            _(
                "Trop de demandes envoyées depuis cette connexion : réessayez dans "
                "%(minutes)s minute(s), ou appelez-nous.",
                minutes=max(1, (wait + 59) // 60),
            ),
            "warning",
        )
        return await ctx.redirect("/demarches/")

    @get("/", name="procedures:list")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        who = await self._who(ctx)
        if isinstance(who, Response):
            return who
        service = request_service(ctx)
        return await self._page(
            ctx,
            "procedures/list.html",
            who,
            procedures=await service.active_procedures(),
            page_title=_("Démarches en ligne"),
        )

    @get("/{code:str}", name="procedures:form")
    async def form(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        opened = await self._open(ctx, code)
        if isinstance(opened, Response):
            return opened
        service, procedure, citizen = opened
        draft = await self._draft(ctx, service, procedure, citizen)
        if draft is not None:
            values = dict(draft.answers)
        elif citizen is not None:
            emergency = (
                await first_emergency_contact(ctx.db, ctx.tenant.id, citizen.id)
                if wants_emergency_contact(procedure)
                else None
            )
            values = prefill_values(procedure, citizen, emergency)
        else:
            values = {}
        if draft is not None and citizen is None:
            values["_email"], values["_name"] = draft.email, draft.name
        return await self._form_page(ctx, service, procedure, citizen, draft, values, {})

    @post("/{code:str}", name="procedures:save")
    async def save(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        opened = await self._open(ctx, code)
        if isinstance(opened, Response):
            return opened
        service, procedure, citizen = opened
        form = await ctx.request.form()
        values, errors = clean_answers(form_fields(procedure), form)
        values = scrub(values)
        draft = await self._draft(ctx, service, procedure, citizen)
        if draft is None:
            if citizen is None:
                wait = await ctx.limiter.attempt(
                    ANONYMOUS_LIMITS["draft"], str(ctx.tenant.id), ctx.ip
                )
                if wait:
                    return await self._too_many(ctx, wait)
            draft = await service.new_draft(procedure, citizen, i18n.current_locale())
            if citizen is None:
                drafts = dict(ctx.session.get("request_drafts") or {})
                drafts[procedure.code] = str(draft.id)
                ctx.session.set("request_drafts", drafts)
        draft.answers = dict(values)
        if citizen is None:
            draft.email = _text(form, "_email", 254)
            draft.name = _text(form, "_name", 200)
            values["_email"], values["_name"] = draft.email, draft.name
            if not draft.name:
                errors["_name"] = _("Ce champ est obligatoire.")
            if not draft.email:
                errors["_email"] = _(
                    "Indiquez votre adresse de courriel : nous y enverrons l'accusé de "
                    "réception et le code de suivi."
                )
            elif not valid_email(draft.email):
                errors["_email"] = _(
                    "Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"
                )
        await self._documents(ctx, service, procedure, citizen, draft, form, errors)
        finishing = form.get("action") == "continuer"
        if finishing:
            view = await service.view(draft)
            for slot in document_slots(procedure):
                name = f"doc-{slot['key']}"
                if (
                    slot["required"]
                    and not view.slot_files().get(slot["key"])
                    and name not in errors
                ):
                    errors[name] = _(
                        "Joignez ce document : choisissez-le dans vos pièces ou envoyez le fichier."
                    )
        await commit(ctx, service)
        if finishing and not errors:
            return await ctx.redirect(f"/demarches/{procedure.code}/recapitulatif")
        if not finishing and not [k for k in errors if k.startswith("doc-")]:
            ctx.flash(
                _(
                    "Votre brouillon est enregistré. Vous pourrez reprendre cette demande "
                    "plus tard depuis « Mes demandes »."
                )
                if citizen is not None
                else _(
                    "Votre brouillon est enregistré dans ce navigateur jusqu'à la fermeture "
                    "de votre session."
                ),
                "success",
            )
            return await ctx.redirect(f"/demarches/{procedure.code}")
        return await self._form_page(
            ctx, service, procedure, citizen, draft, values, errors, status_code=400
        )

    async def _documents(
        self,
        ctx: AccountsContext,
        service: RequestService,
        procedure: Procedure,
        citizen: Citizen | None,
        draft: ProcedureRequest,
        form: Any,
        errors: dict[str, str],
    ) -> None:
        """Each document slot: a new file (kept in the document store too when asked), or one
        of the citizen's stored documents; otherwise what the draft already holds."""
        documents = (
            DocumentService(ctx.db, ctx.tenant, citizen.id, ctx.request.app.state.services.files)
            if citizen is not None
            else None
        )
        for slot in document_slots(procedure):
            name = f"doc-{slot['key']}"
            uploads = await _uploads(form, f"file-{slot['key']}")
            choice = _text(form, name, 40)
            try:
                if uploads:
                    filename, data = uploads[0]
                    title = _titled(slot["label"], filename)
                    if documents is not None and form.get(f"store-{slot['key']}"):
                        stored = await documents.add(title, DocumentKind.OTHER, None, data)
                        await service.attach_stored(draft, slot["key"], stored)
                    else:
                        await service.attach(draft, title, data, slot=slot["key"])
                elif choice == "retirer":
                    await service.clear_slot(draft, slot["key"])
                elif choice and choice != "garder" and documents is not None:
                    try:
                        document = await documents.get(uuid.UUID(choice))
                    except ValueError:
                        document = None
                    if document is None:
                        errors[name] = _("Choisissez un document dans la liste.")
                    else:
                        await service.attach_stored(draft, slot["key"], document)
            except DocumentError as exc:
                errors[name] = str(exc)

    @get("/{code:str}/recapitulatif", name="procedures:summary")
    async def summary(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        opened = await self._open(ctx, code)
        if isinstance(opened, Response):
            return opened
        service, procedure, citizen = opened
        draft = await self._draft(ctx, service, procedure, citizen)
        if draft is None:
            return await ctx.redirect(f"/demarches/{procedure.code}")
        view = await service.view(draft)
        return await self._page(
            ctx,
            "procedures/summary.html",
            citizen,
            view=view,
            procedure=procedure,
            rows=answer_rows(procedure, draft.answers),
            slots=document_slots(procedure),
            slot_files=view.slot_files(),
            page_title=_("Récapitulatif de votre demande"),
        )

    @post("/{code:str}/envoyer", name="procedures:send")
    async def send(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        opened = await self._open(ctx, code)
        if isinstance(opened, Response):
            return opened
        service, procedure, citizen = opened
        draft = await self._draft(ctx, service, procedure, citizen)
        if draft is None:
            return await ctx.redirect(f"/demarches/{procedure.code}")
        _values, errors = clean_answers(
            form_fields(procedure), answers_as_form(procedure, draft.answers)
        )
        view = await service.view(draft)
        if citizen is None and (not valid_email(draft.email) or not draft.name):
            errors["_email"] = "invalid"
        if errors or service.missing_documents(view):
            ctx.flash(_("Votre demande est incomplète : vérifiez les champs signalés."), "warning")
            return await ctx.redirect(f"/demarches/{procedure.code}")
        if citizen is None:
            wait = await ctx.limiter.attempt(ANONYMOUS_LIMITS["send"], str(ctx.tenant.id), ctx.ip)
            if wait:
                return await self._too_many(ctx, wait)
        try:
            code_sent = await service.send(view, base_url(ctx))
        except AlreadySent:
            await ctx.db.rollback()
            ctx.flash(_("Cette demande est déjà transmise."), "info")
            if citizen is not None:
                return await ctx.redirect(f"/mon-espace/demandes/{draft.id}")
            return await ctx.redirect("/demarches/suivi")
        if citizen is not None:
            ctx.accounts.record(
                citizen,
                "request_sent",
                {"request_id": str(draft.id), "reference": draft.reference},
                ctx.ip,
            )
        await commit(ctx, service)
        if citizen is not None:
            ctx.flash(
                _(
                    "Votre demande est transmise sous la référence %(reference)s. Un accusé de "
                    "réception vous est envoyé par courriel.",
                    reference=draft.reference,
                ),
                "success",
            )
            return await ctx.redirect(f"/mon-espace/demandes/{draft.id}")
        drafts = dict(ctx.session.get("request_drafts") or {})
        drafts.pop(procedure.code, None)
        ctx.session.set("request_drafts", drafts)
        tracked = [str(draft.id), *(ctx.session.get("tracked_requests") or [])][:MAX_TRACKED]
        ctx.session.set("tracked_requests", tracked)
        ctx.session.set(
            "request_sent",
            {
                "id": str(draft.id),
                "reference": draft.reference,
                "code": format_code(code_sent or ""),
                "email": draft.email,
                "title": procedure.title,
            },
        )
        return await ctx.redirect("/demarches/suivi/envoyee")

    # -- following without an account ---------------------------------------------------------
    @get("/suivi/envoyee", name="procedures:sent")
    async def sent(self, ctx: AccountsContext) -> Response[Any]:
        sent = ctx.session.pop("request_sent")
        if not sent:
            return await ctx.redirect("/demarches/suivi")
        return await self._page(
            ctx, "procedures/sent.html", None, sent=sent, page_title=_("Demande transmise")
        )

    async def _track_page(
        self, ctx: AccountsContext, values: dict[str, str], error: str = "", status_code: int = 200
    ) -> Response[Any]:
        return await self._page(
            ctx,
            "procedures/track.html",
            None,
            status_code=status_code,
            values=values,
            error=error,
            page_title=_("Suivre une demande"),
        )

    @get("/suivi", name="procedures:track")
    async def track(self, ctx: AccountsContext) -> Response[Any]:
        return await self._track_page(ctx, {})

    @post("/suivi", name="procedures:track_post")
    async def track_post(self, ctx: AccountsContext) -> Response[Any]:
        form = await ctx.request.form()
        values = {
            "reference": _text(form, "reference", 30),
            "email": _text(form, "email", 254),
            "code": _text(form, "code", 30),
        }
        tid = str(ctx.tenant.id)
        reference_key = values["reference"].upper() or "-"
        # counted before the lookup (a burst in parallel cannot slip through); a success
        # forgets the reference's count
        wait = max(
            await ctx.limiter.attempt(TRACKING_LIMITS["ip"], tid, ctx.ip),
            await ctx.limiter.attempt(TRACKING_LIMITS["reference"], tid, reference_key),
        )
        if wait:
            minutes = max(1, (wait + 59) // 60)
            return await self._track_page(
                ctx,
                values,
                _(
                    "Trop d'essais : pour protéger les demandes, réessayez dans %(minutes)s "
                    "minute(s), ou appelez-nous.",
                    minutes=minutes,
                ),
                status_code=429,
            )
        if not all(values.values()):
            return await self._track_page(
                ctx,
                values,
                _(
                    "Indiquez la référence, l'adresse de courriel et le code de suivi reçus "
                    "par courriel."
                ),
                status_code=400,
            )
        service = request_service(ctx)
        request = await service.find_tracked(
            values["reference"], values["email"], normalize_code(values["code"])
        )
        if request is None:
            return await self._track_page(
                ctx,
                values,
                _(
                    "Aucune demande ne correspond : vérifiez la référence, l'adresse de "
                    "courriel et le code de suivi."
                ),
                status_code=400,
            )
        await ctx.limiter.reset(TRACKING_LIMITS["reference"], tid, reference_key)
        tracked = [str(request.id), *(ctx.session.get("tracked_requests") or [])]
        ctx.session.set("tracked_requests", list(dict.fromkeys(tracked))[:MAX_TRACKED])
        return await ctx.redirect(f"/demarches/suivi/{request.id}")

    async def _tracked(
        self, ctx: AccountsContext, request_id: uuid.UUID
    ) -> tuple[RequestService, ProcedureRequest]:
        if str(request_id) not in (ctx.session.get("tracked_requests") or []):
            raise NotFoundException()
        service = request_service(ctx)
        request = await service.get(request_id)
        if (
            request is None
            or request.citizen_id is not None
            or request.status == RequestStatus.DRAFT
        ):
            raise NotFoundException()
        return service, request

    @get("/suivi/{request_id:uuid}", name="procedures:tracked")
    async def tracked(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        service, request = await self._tracked(ctx, request_id)
        view = await service.view(request)
        service.mark_read(view, by_agent=False)
        await commit(ctx, service)
        return await request_page(
            ctx, service, view, None, f"/{ctx.tenant.slug}/demarches/suivi/{request.id}"
        )

    @post("/suivi/{request_id:uuid}/messages", name="procedures:tracked_message")
    async def tracked_message(
        self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        service, request = await self._tracked(ctx, request_id)
        view = await service.view(request)
        return await post_citizen_message(
            ctx, service, view, None, f"/{ctx.tenant.slug}/demarches/suivi/{request.id}"
        )

    @get("/suivi/{request_id:uuid}/pieces/{attachment_id:uuid}", name="procedures:tracked_file")
    async def tracked_file(
        self,
        ctx: AccountsContext,
        request_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        service, request = await self._tracked(ctx, request_id)
        return await attachment_download(ctx, service, request, attachment_id)

    @get("/suivi/{request_id:uuid}/accuse-reception", name="procedures:tracked_ack")
    async def tracked_ack(
        self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        service, request = await self._tracked(ctx, request_id)
        return await ack_pdf(ctx, await service.view(request))


class RequestsController(Controller):
    """``/mon-espace/demandes``: the citizen's requests (drafts included) and each one's page."""

    path = "/mon-espace/demandes"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _guard(self, ctx: AccountsContext) -> Response[Any] | tuple[Citizen, RequestService]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return citizen, request_service(ctx)

    async def _own(self, ctx: AccountsContext, request_id: uuid.UUID) -> Any:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        request = await service.get(request_id, citizen_id=citizen.id)
        if request is None:
            raise NotFoundException()
        return citizen, service, request

    @get("/", name="requests:list")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        requests = await service.citizen_requests(citizen.id)
        return await private_page(
            ctx,
            "procedures/history.html",
            citizen,
            drafts=[(r, p) for r, p in requests if r.status == RequestStatus.DRAFT],
            sent=[(r, p) for r, p in requests if r.status != RequestStatus.DRAFT],
            status_labels=STATUS_LABELS,
            page_title=_("Mes demandes"),
        )

    @get("/{request_id:uuid}", name="requests:detail")
    async def detail(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        own = await self._own(ctx, request_id)
        if isinstance(own, Response):
            return own
        citizen, service, request = own
        if request.status == RequestStatus.DRAFT:
            procedure = await service.procedure_by_id(request.procedure_id)
            return await ctx.redirect(f"/demarches/{procedure.code if procedure else ''}")
        view = await service.view(request)
        service.mark_read(view, by_agent=False)
        await commit(ctx, service)
        return await request_page(
            ctx, service, view, citizen, f"/{ctx.tenant.slug}/mon-espace/demandes/{request.id}"
        )

    @post("/{request_id:uuid}/messages", name="requests:message")
    async def message(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        own = await self._own(ctx, request_id)
        if isinstance(own, Response):
            return own
        citizen, service, request = own
        view = await service.view(request)
        return await post_citizen_message(
            ctx, service, view, citizen, f"/{ctx.tenant.slug}/mon-espace/demandes/{request.id}"
        )

    @get("/{request_id:uuid}/pieces/{attachment_id:uuid}", name="requests:file")
    async def file(
        self,
        ctx: AccountsContext,
        request_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        own = await self._own(ctx, request_id)
        if isinstance(own, Response):
            return own
        _citizen, service, request = own
        return await attachment_download(ctx, service, request, attachment_id)

    @get("/{request_id:uuid}/accuse-reception", name="requests:ack")
    async def ack(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        own = await self._own(ctx, request_id)
        if isinstance(own, Response):
            return own
        _citizen, service, request = own
        return await ack_pdf(ctx, await service.view(request))

    @post("/{request_id:uuid}/supprimer", name="requests:delete_draft")
    async def delete_draft(
        self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        own = await self._own(ctx, request_id)
        if isinstance(own, Response):
            return own
        _citizen, service, request = own
        if request.status != RequestStatus.DRAFT:
            raise NotFoundException()
        await service.delete_draft(request)
        await commit(ctx, service)
        ctx.flash(_("Le brouillon est supprimé."), "success")
        return await ctx.redirect("/mon-espace/demandes/")
