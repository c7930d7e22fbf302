"""The agents' side of requests (``/{tenant}/agents/demandes``): the queue, a request with its
answers, documents and thread; change its status with a comment, write to the citizen, assign
it. The back-office issue adds roles and its own navigation around these pages."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.i18n import gettext as _
from guichet.procedures.controllers import (
    _text,
    _uploads,
    attachment_download,
    base_url,
    commit,
    request_service,
)
from guichet.procedures.models import OPEN_STATUSES, RequestStatus
from guichet.procedures.services import (
    MAX_MESSAGE,
    STATUS_LABELS,
    RequestService,
    RequestView,
    answer_rows,
    document_slots,
)
from guichet.staff.models import StaffUser
from guichet.staff.services import StaffService
from guichet.staff.web import require_staff, staff_audit, staff_page

__all__ = ["AgentRequestsController"]

FILTERS = {
    "ouvertes": OPEN_STATUSES,
    "toutes": tuple(s for s in RequestStatus if s != RequestStatus.DRAFT),
    **{s.value: (s,) for s in RequestStatus if s != RequestStatus.DRAFT},
}


class AgentRequestsController(Controller):
    path = "/agents/demandes"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _open(
        self, ctx: AccountsContext, request_id: uuid.UUID
    ) -> Response[Any] | tuple[StaffUser, RequestService, RequestView]:
        staff = await require_staff(ctx, "requests")
        if not isinstance(staff, StaffUser):
            return staff
        service = request_service(ctx)
        request = await service.get(request_id)
        if request is None or request.status == RequestStatus.DRAFT:
            raise NotFoundException()
        return staff, service, await service.view(request)

    async def _detail_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        view: RequestView,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response[Any]:
        staff_service = StaffService(ctx.db, ctx.tenant.id)
        colleagues, assignable = await staff_service.active(), await staff_service.assignable()
        allowed = [
            RequestStatus(s) for s in view.procedure.statuses if s != RequestStatus.DRAFT.value
        ]
        return await staff_page(
            ctx,
            "agents/request.html",
            staff,
            status_code=status_code,
            view=view,
            rows=answer_rows(view.procedure, view.request.answers),
            slots=document_slots(view.procedure),
            slot_files=view.slot_files(),
            message_files=view.message_files(),
            status_labels=STATUS_LABELS,
            statuses=[(s.value, _(STATUS_LABELS[s])) for s in allowed],
            assignee_options=[(str(c.id), c.name) for c in assignable],
            assignee=next((c for c in colleagues if c.id == view.request.assigned_to), None),
            errors=errors or {},
            values=values or {},
            page_base=f"/{ctx.tenant.slug}/agents/demandes/{view.request.id}",
            page_title=f"{view.request.reference} — {view.procedure.title}",
        )

    @get("/", name="agents:queue")
    async def queue(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "requests")
        if not isinstance(staff, StaffUser):
            return staff
        chosen = ctx.request.query_params.get("etat", "ouvertes")
        if chosen not in FILTERS:
            chosen = "ouvertes"
        mine = ctx.request.query_params.get("moi") == "1"
        service = request_service(ctx)
        rows = await service.queue(FILTERS[chosen], staff.id if mine else None)
        colleagues = {c.id: c for c in await StaffService(ctx.db, ctx.tenant.id).active()}
        filters = [
            ("ouvertes", _("À traiter (transmises, en cours, en attente)")),
            ("toutes", _("Toutes")),
            *[(s.value, _(STATUS_LABELS[s])) for s in RequestStatus if s != RequestStatus.DRAFT],
        ]
        return await staff_page(
            ctx,
            "agents/queue.html",
            staff,
            rows=rows,
            colleagues=colleagues,
            filters=filters,
            chosen=chosen,
            mine=mine,
            status_labels=STATUS_LABELS,
            page_title=_("Demandes à traiter"),
        )

    @get("/{request_id:uuid}", name="agents:request")
    async def detail(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        opened = await self._open(ctx, request_id)
        if isinstance(opened, Response):
            return opened
        staff, service, view = opened
        service.mark_read(view, by_agent=True)
        staff_audit(ctx, staff, "request.viewed", view.request.reference or "")
        await commit(ctx, service)
        return await self._detail_page(ctx, staff, view)

    @post("/{request_id:uuid}/statut", name="agents:status")
    async def status(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        opened = await self._open(ctx, request_id)
        if isinstance(opened, Response):
            return opened
        staff, service, view = opened
        form = await ctx.request.form()
        chosen = _text(form, "status", 40)
        comment = _text(form, "comment", MAX_MESSAGE + 1)
        errors: dict[str, str] = {}
        allowed = {s for s in view.procedure.statuses if s != RequestStatus.DRAFT.value}
        if chosen not in allowed:
            errors["status"] = _("Choisissez le nouvel état dans la liste.")
        elif chosen == view.request.status.value and not comment:
            errors["status"] = _("La demande est déjà dans cet état.")
        if len(comment) > MAX_MESSAGE:
            errors["comment"] = _("%(count)s caractères au plus.", count=MAX_MESSAGE)
        elif chosen == RequestStatus.WAITING.value and not comment:
            errors["comment"] = _(
                "Dites au demandeur quels compléments envoyer : ce commentaire lui est adressé."
            )
        elif chosen == RequestStatus.REFUSED.value and not comment:
            errors["comment"] = _(
                "Dites au demandeur pourquoi sa demande est refusée, et s'il peut la refaire : "
                "ce commentaire lui est adressé."
            )
        if errors:
            return await self._detail_page(
                ctx,
                staff,
                view,
                status_code=400,
                errors=errors,
                values={"status": chosen, "comment": comment},
            )
        await service.set_status(view, RequestStatus(chosen), comment, staff.name, base_url(ctx))
        staff_audit(
            ctx, staff, "request.status_changed", view.request.reference or "", {"status": chosen}
        )
        await commit(ctx, service)
        ctx.flash(
            _(
                "La demande est maintenant : %(status)s.",
                status=_(STATUS_LABELS[RequestStatus(chosen)]),
            ),
            "success",
        )
        return await ctx.redirect(f"/agents/demandes/{view.request.id}")

    @post("/{request_id:uuid}/messages", name="agents:message")
    async def message(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        opened = await self._open(ctx, request_id)
        if isinstance(opened, Response):
            return opened
        staff, service, view = opened
        form = await ctx.request.form()
        body = _text(form, "body", MAX_MESSAGE + 1)
        uploads = await _uploads(form, "files")
        error = ""
        checked: list[Any] = []
        if len(body) > MAX_MESSAGE:
            error = _("%(count)s caractères au plus.", count=MAX_MESSAGE)
        elif not body and not uploads:
            error = _("Écrivez le message ou joignez un document.")
        else:
            checked, error = await service.check_files(uploads)
        if error:
            return await self._detail_page(
                ctx, staff, view, status_code=400, errors={"body": error}, values={"body": body}
            )
        await service.post_message(view, body, True, staff.name, checked, base_url(ctx))
        staff_audit(
            ctx,
            staff,
            "request.message_sent",
            view.request.reference or "",
            {"files": len(checked)},
        )
        await commit(ctx, service)
        ctx.flash(_("Le message est envoyé au demandeur."), "success")
        return await ctx.redirect(f"/agents/demandes/{view.request.id}")

    @post("/{request_id:uuid}/attribuer", name="agents:assign")
    async def assign(self, ctx: AccountsContext, request_id: FromPath[uuid.UUID]) -> Response[Any]:
        opened = await self._open(ctx, request_id)
        if isinstance(opened, Response):
            return opened
        staff, service, view = opened
        form = await ctx.request.form()
        chosen = _text(form, "assignee", 40)
        colleagues = {str(c.id): c for c in await StaffService(ctx.db, ctx.tenant.id).assignable()}
        if chosen and chosen not in colleagues:
            return await self._detail_page(
                ctx,
                staff,
                view,
                status_code=400,
                errors={"assignee": _("Choisissez un agent dans la liste.")},
            )
        view.request.assigned_to = colleagues[chosen].id if chosen else None
        staff_audit(
            ctx,
            staff,
            "request.assigned",
            view.request.reference or "",
            {"to": colleagues[chosen].email if chosen else ""},
        )
        await commit(ctx, service)
        ctx.flash(
            _("Demande attribuée à %(name)s.", name=colleagues[chosen].name)
            if chosen
            else _("La demande n'est plus attribuée."),
            "success",
        )
        return await ctx.redirect(f"/agents/demandes/{view.request.id}")

    @get("/{request_id:uuid}/pieces/{attachment_id:uuid}", name="agents:file")
    async def file(
        self,
        ctx: AccountsContext,
        request_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        opened = await self._open(ctx, request_id)
        if isinstance(opened, Response):
            return opened
        _staff, service, view = opened
        return await attachment_download(ctx, service, view.request, attachment_id)
