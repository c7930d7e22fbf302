"""Pièces justificatives: list with the storage used, upload, rename, replace, download, delete."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from guichet.accounts.models import Citizen
from guichet.accounts.web import AccountsContext, private_page, provide_ctx, require_citizen
from guichet.documents.models import DocumentKind
from guichet.documents.services import (
    KIND_LABELS,
    DocumentError,
    DocumentService,
    clean_metadata,
    validity,
)
from guichet.i18n import gettext as _
from guichet.web.pages import download_response

__all__ = ["DocumentsController"]


def kinds() -> list[tuple[str, str]]:
    return [(k.value, _(KIND_LABELS[k])) for k in DocumentKind]


async def _upload(form: Any) -> bytes | None:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read()
    return None


class DocumentsController(Controller):
    path = "/mon-espace/pieces"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _guard(self, ctx: AccountsContext) -> Response[Any] | tuple[Citizen, DocumentService]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        files = ctx.request.app.state.services.files
        return citizen, DocumentService(ctx.db, ctx.tenant, citizen.id, files)

    async def _list_page(
        self,
        ctx: AccountsContext,
        citizen: Citizen,
        service: DocumentService,
        status_code: int = 200,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        documents = await service.list()
        return await private_page(
            ctx,
            "documents/list.html",
            citizen,
            status_code=status_code,
            documents=documents,
            usage=await service.usage(),
            kinds=kinds(),
            kind_labels=KIND_LABELS,
            validity=validity,
            values=values or {},
            errors=errors or {},
            max_mb=ctx.tenant.document_max_bytes // (1024 * 1024),
            page_title=_("Pièces justificatives"),
        )

    @get("/", name="documents:list")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        return await self._list_page(ctx, citizen, service)

    @post("/", name="documents:upload")
    async def upload(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        form = await ctx.request.form()
        values, errors = clean_metadata(form)
        data = await _upload(form)
        if data is None:
            errors["file"] = _("Choisissez le fichier à enregistrer (PDF, JPEG ou PNG).")
        if not errors and data is not None:
            try:
                document = await service.add(
                    values["title"],
                    DocumentKind(values["kind"]),
                    date.fromisoformat(values["valid_until"]) if values["valid_until"] else None,
                    data,
                )
            except DocumentError as exc:
                errors["file"] = str(exc)
            else:
                ctx.accounts.record(
                    citizen,
                    "document_added",
                    {"document_id": str(document.id), "kind": values["kind"]},
                    ctx.ip,
                )
                await ctx.commit()
                ctx.flash(
                    _("La pièce « %(title)s » est enregistrée.", title=values["title"]), "success"
                )
                return await ctx.redirect("/mon-espace/pieces")
        return await self._list_page(
            ctx, citizen, service, status_code=400, values=values, errors=errors
        )

    @get("/{document_id:uuid}", name="documents:edit")
    async def edit(self, ctx: AccountsContext, document_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        document = await service.get(document_id)
        if document is None:
            raise NotFoundException()
        values = {
            "title": document.title,
            "kind": document.kind.value,
            "valid_until": document.valid_until.isoformat() if document.valid_until else "",
        }
        return await private_page(
            ctx,
            "documents/edit.html",
            citizen,
            document=document,
            values=values,
            errors={},
            kinds=kinds(),
            kind_labels=KIND_LABELS,
            max_mb=ctx.tenant.document_max_bytes // (1024 * 1024),
            page_title=_("Modifier une pièce"),
        )

    @post("/{document_id:uuid}", name="documents:update")
    async def update(self, ctx: AccountsContext, document_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        document = await service.get(document_id)
        if document is None:
            raise NotFoundException()
        form = await ctx.request.form()
        values, errors = clean_metadata(form)
        data = await _upload(form)
        old_key = None
        if not errors and data is not None:
            try:
                old_key = await service.replace(document, data)
            except DocumentError as exc:
                errors["file"] = str(exc)
        if errors:
            return await private_page(
                ctx,
                "documents/edit.html",
                citizen,
                status_code=400,
                document=document,
                values=values,
                errors=errors,
                kinds=kinds(),
                kind_labels=KIND_LABELS,
                max_mb=ctx.tenant.document_max_bytes // (1024 * 1024),
                page_title=_("Modifier une pièce"),
            )
        document.title = values["title"]
        document.kind = DocumentKind(values["kind"])
        document.valid_until = (
            date.fromisoformat(values["valid_until"]) if values["valid_until"] else None
        )
        ctx.accounts.record(
            citizen,
            "document_changed",
            {"document_id": str(document.id), "file_replaced": bool(old_key)},
            ctx.ip,
        )
        await ctx.commit()
        if old_key:
            await service.forget_file(old_key)
        ctx.flash(_("La pièce « %(title)s » est modifiée.", title=document.title), "success")
        return await ctx.redirect("/mon-espace/pieces")

    @get("/{document_id:uuid}/telecharger", name="documents:download")
    async def download(
        self, ctx: AccountsContext, document_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        _citizen, service = guard
        document = await service.get(document_id)
        if document is None:
            raise NotFoundException()
        content = await service.content(document)
        response = download_response(
            content, document.media_type, service.download_name(document), sandbox=True
        )
        return await ctx.finish(response)

    @get("/{document_id:uuid}/supprimer", name="documents:confirm_delete")
    async def confirm_delete(
        self, ctx: AccountsContext, document_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        document = await service.get(document_id)
        if document is None:
            raise NotFoundException()
        return await private_page(
            ctx,
            "documents/delete.html",
            citizen,
            document=document,
            page_title=_("Supprimer une pièce"),
        )

    @post("/{document_id:uuid}/supprimer", name="documents:delete")
    async def delete(self, ctx: AccountsContext, document_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        document = await service.get(document_id)
        if document is None:
            raise NotFoundException()
        title = document.title
        key = await service.delete(document)
        ctx.accounts.record(citizen, "document_removed", {"document_id": str(document_id)}, ctx.ip)
        await ctx.commit()
        await service.forget_file(key)
        ctx.flash(_("La pièce « %(title)s » est supprimée.", title=title), "success")
        return await ctx.redirect("/mon-espace/pieces")
