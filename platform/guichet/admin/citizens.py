"""Citizens, for agents and administrators (``/{tenant}/admin/habitants``): search, a
citizen's page (identity, contact details, services, requests, history — never a password),
lock and unlock, a new activation link. Every action is in the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import func, select

from guichet.accounts.models import Citizen, CitizenEvent, CitizenStatus, search_form
from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.procedures.models import ProcedureRequest
from guichet.procedures.services import STATUS_LABELS
from guichet.staff.models import StaffUser
from guichet.staff.web import require_staff, staff_audit, staff_page

__all__ = ["CITIZEN_STATUS_LABELS", "CitizensController"]


CITIZEN_STATUS_LABELS = {
    CitizenStatus.PENDING: N_("en attente d'activation"),
    CitizenStatus.ACTIVE: N_("actif"),
    CitizenStatus.LOCKED: N_("verrouillé"),
    CitizenStatus.DELETED: N_("supprimé"),
}
PAGE = 50


def _query(ctx: AccountsContext) -> str:
    value = str(ctx.request.query_params.get("q", ""))
    return " ".join(value.replace("\x00", "").split())[:100]


class CitizensController(Controller):
    path = "/admin/habitants"
    dependencies = {"ctx": Provide(provide_ctx)}

    @get("/", name="admin:citizens")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "citizens")
        if not isinstance(staff, StaffUser):
            return staff
        query = _query(ctx)
        statement = (
            select(Citizen)
            .where(Citizen.tenant_id == ctx.tenant.id, Citizen.status != CitizenStatus.DELETED)
            .order_by(Citizen.last_name, Citizen.first_names)
            .limit(PAGE)
        )
        for word in search_form(query).split()[:4]:
            # accents and case aside; % and _ are letters here, not wildcards
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(Citizen.search_text.like(f"%{escaped}%", escape="\\"))
        citizens = list((await ctx.db.execute(statement)).scalars())
        total = await ctx.db.scalar(
            select(func.count(Citizen.id)).where(
                Citizen.tenant_id == ctx.tenant.id, Citizen.status != CitizenStatus.DELETED
            )
        )
        return await staff_page(
            ctx,
            "admin/citizens.html",
            staff,
            citizens=citizens,
            query=query,
            total=int(total or 0),
            limit=PAGE,
            status_labels=CITIZEN_STATUS_LABELS,
            page_title=_("Habitants"),
        )

    async def _citizen(self, ctx: AccountsContext, citizen_id: uuid.UUID) -> Citizen:
        citizen = await ctx.db.scalar(
            select(Citizen).where(
                Citizen.tenant_id == ctx.tenant.id,
                Citizen.id == citizen_id,
                Citizen.status != CitizenStatus.DELETED,
            )
        )
        if citizen is None:
            raise NotFoundException()
        return citizen

    @get("/{citizen_id:uuid}", name="admin:citizen")
    async def detail(self, ctx: AccountsContext, citizen_id: FromPath[uuid.UUID]) -> Response[Any]:
        staff = await require_staff(ctx, "citizens")
        if not isinstance(staff, StaffUser):
            return staff
        citizen = await self._citizen(ctx, citizen_id)
        events = list(
            (
                await ctx.db.execute(
                    select(CitizenEvent)
                    .where(
                        CitizenEvent.tenant_id == ctx.tenant.id,
                        CitizenEvent.citizen_id == citizen.id,
                    )
                    .order_by(CitizenEvent.created_at.desc())
                    .limit(30)
                )
            ).scalars()
        )
        requests = list(
            (
                await ctx.db.execute(
                    select(ProcedureRequest)
                    .where(
                        ProcedureRequest.tenant_id == ctx.tenant.id,
                        ProcedureRequest.citizen_id == citizen.id,
                        ProcedureRequest.reference.is_not(None),
                    )
                    .order_by(ProcedureRequest.sent_at.desc())
                )
            ).scalars()
        )
        staff_audit(ctx, staff, "citizen.viewed", citizen.username)
        await ctx.db.commit()
        return await staff_page(
            ctx,
            "admin/citizen.html",
            staff,
            row=citizen,
            linked=await ctx.accounts.linked_accounts(citizen),
            events=events,
            requests=requests,
            request_labels=STATUS_LABELS,
            status_labels=CITIZEN_STATUS_LABELS,
            page_title=f"{citizen.first_names} {citizen.last_name.upper()}",
        )

    @post("/{citizen_id:uuid}", name="admin:citizen_action")
    async def action(self, ctx: AccountsContext, citizen_id: FromPath[uuid.UUID]) -> Response[Any]:
        staff = await require_staff(ctx, "citizens")
        if not isinstance(staff, StaffUser):
            return staff
        citizen = await self._citizen(ctx, citizen_id)
        form = await ctx.request.form()
        action = form.get("action")
        if action == "verrouiller" and citizen.status == CitizenStatus.ACTIVE:
            citizen.status = CitizenStatus.LOCKED
            citizen.session_epoch += 1  # signed out everywhere
            message = _("L'espace est verrouillé : la personne ne peut plus se connecter.")
        elif action == "deverrouiller" and citizen.status == CitizenStatus.LOCKED:
            citizen.status = CitizenStatus.ACTIVE
            message = _("L'espace est déverrouillé.")
        elif action == "activation" and citizen.status == CitizenStatus.PENDING:
            await ctx.accounts.send_activation(citizen)
            message = _("Un nouveau lien d'activation est envoyé à %(email)s.", email=citizen.email)
        else:
            ctx.flash(
                _("Cette action n'est pas possible dans l'état actuel de l'espace."), "warning"
            )
            return await ctx.redirect(f"/admin/habitants/{citizen.id}")
        ctx.accounts.record(citizen, f"staff_{action}", {"staff": staff.email}, ctx.ip)
        staff_audit(ctx, staff, f"citizen.{action}", citizen.username)
        await ctx.commit()
        ctx.flash(message, "success")
        return await ctx.redirect(f"/admin/habitants/{citizen.id}")
