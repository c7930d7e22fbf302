"""Requests ("demandes"): drafts, sending, statuses, the message thread, files and tracking.

Every query is bound to the tenant (tenant repositories); a citizen's requests are reached with
their ``citizen_id`` as well, so another citizen's or tenant's request is simply not found.
Emails are queued in the outbox with the change they report (committed with it).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import Citizen, CitizenStatus
from guichet.contacts.models import Contact, ContactKind
from guichet.db.repository import TenantRepository, lazy_repository
from guichet.documents.models import Document
from guichet.documents.services import EXTENSIONS, DocumentError, check_upload
from guichet.files import FileStore
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.notifications.models import OutboxMessage
from guichet.notifications.services import queue_email
from guichet.procedures.models import (
    OPEN_STATUSES,
    Procedure,
    ProcedureRepository,
    ProcedureRequest,
    RequestAttachment,
    RequestEvent,
    RequestMessage,
    RequestStatus,
)
from guichet.settings import Settings
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

__all__ = [
    "STATUS_LABELS",
    "AlreadySent",
    "RequestService",
    "RequestView",
    "answer_rows",
    "document_slots",
    "prefill_values",
]

# Reference and tracking-code letters: no 0/O, 1/I/L, easy to read out on the phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TRACKING_LENGTH = 12
MAX_MESSAGE = 5000
MAX_MESSAGE_FILES = 3


STATUS_LABELS = {
    RequestStatus.DRAFT: N_("Brouillon"),
    RequestStatus.SENT: N_("Transmise"),
    RequestStatus.IN_REVIEW: N_("En cours d'instruction"),
    RequestStatus.WAITING: N_("En attente de compléments"),
    RequestStatus.ACCEPTED: N_("Acceptée"),
    RequestStatus.REFUSED: N_("Refusée"),
    RequestStatus.CLOSED: N_("Clôturée"),
}


def now() -> datetime:
    return datetime.now(UTC)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def normalize_code(text: str) -> str:
    """What the citizen typed, without spaces, dashes or case."""
    return "".join(c for c in text.upper() if c.isalnum())


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _code_hash(request_id: uuid.UUID, code: str) -> str:
    return hashlib.sha256(f"{request_id}:{normalize_code(code)}".encode()).hexdigest()


def document_slots(procedure: Procedure) -> list[dict[str, Any]]:
    """The supporting documents a form asks for: its fields of kind ``document`` and its
    ``documents`` list, in that order."""
    slots = [
        {"key": f["key"], "label": f["label"], "required": f.get("required", False)}
        for f in procedure.fields
        if f["kind"] == "document"
    ]
    return slots + [dict(d) for d in procedure.documents]


def form_fields(procedure: Procedure) -> list[dict[str, Any]]:
    """The fields typed in (documents apart)."""
    return [f for f in procedure.fields if f["kind"] != "document"]


def prefill_values(
    procedure: Procedure, citizen: Citizen, emergency: Contact | None = None
) -> dict[str, Any]:
    """The form's first values, taken from the citizen's details (and ``emergency``, the
    first of their contacts to warn, for an ``emergency_contact`` field)."""
    values: dict[str, Any] = {}
    for spec in form_fields(procedure):
        source = spec.get("prefill")
        if not source:
            continue
        if source == "full_name":
            values[spec["key"]] = f"{citizen.first_names} {citizen.last_name.upper()}".strip()
        elif source == "first_name":
            values[spec["key"]] = citizen.first_names
        elif source == "last_name":
            values[spec["key"]] = citizen.last_name.upper()
        elif source == "birth_date":
            values[spec["key"]] = citizen.birth_date.isoformat() if citizen.birth_date else ""
        elif source == "address":
            from guichet.accounts.space import ADDRESS_FIELDS

            values[spec["key"]] = {p: getattr(citizen, p, "") or "" for p in ADDRESS_FIELDS}
        elif source in ("email", "phone", "mobile"):
            value = getattr(citizen, source, "") or ""
            if source == "phone" and not value:
                value = citizen.mobile or ""
            values[spec["key"]] = value
        elif source == "emergency_contact" and emergency is not None:
            name = f"{emergency.first_name} {emergency.last_name.upper()}".strip()
            phone = emergency.mobile or emergency.phone
            values[spec["key"]] = f"{name} — {phone}" if phone else name
    return values


def wants_emergency_contact(procedure: Procedure) -> bool:
    return any(spec.get("prefill") == "emergency_contact" for spec in form_fields(procedure))


async def first_emergency_contact(
    session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID
) -> Contact | None:
    """The citizen's first « Contact à prévenir », the oldest."""
    return await session.scalar(
        select(Contact)
        .where(
            Contact.tenant_id == tenant_id,
            Contact.citizen_id == citizen_id,
            Contact.kind == ContactKind.EMERGENCY,
        )
        .order_by(Contact.created_at)
        .limit(1)
    )


def _address_text(value: dict[str, str]) -> str:
    number = " ".join(
        p for p in (value.get("street_number", ""), value.get("street_number_suffix", "")) if p
    )
    street = " ".join(p for p in (number, value.get("street_name", "")) if p)
    parts = [
        street,
        value.get("building", ""),
        value.get("apartment", ""),
        value.get("address_complement", ""),
        " ".join(p for p in (value.get("postcode", ""), value.get("city", "")) if p),
    ]
    return ", ".join(p for p in parts if p)


def answer_text(spec: dict[str, Any], value: Any) -> str:
    """An answer as the citizen and the agents read it."""
    if value in (None, "", [], {}):
        return ""
    kind = spec["kind"]
    if kind == "address" and isinstance(value, dict):
        return _address_text(value)
    if kind == "checkboxes" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if kind == "number" and isinstance(value, str):
        return value.replace(".", ",")
    return str(value)


def answer_rows(procedure: Procedure, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, answer) for each typed field, in the form's order."""
    return [
        (spec["label"], answer_text(spec, answers.get(spec["key"])))
        for spec in form_fields(procedure)
    ]


# Built once with bound parameters (the tenant is always one): see accounts/services.py.
_CITIZEN_REQUESTS = (
    select(ProcedureRequest, Procedure)
    .join(Procedure, Procedure.id == ProcedureRequest.procedure_id)
    .where(
        ProcedureRequest.tenant_id == bindparam("tenant_id"),
        ProcedureRequest.citizen_id == bindparam("citizen_id"),
    )
    .order_by(ProcedureRequest.updated_at.desc())
)


@functools.lru_cache(maxsize=8)
def _citizen_requests(limit: int | None) -> Select[Any]:
    return _CITIZEN_REQUESTS.limit(limit) if limit else _CITIZEN_REQUESTS


# One of the dashboard's counts (accounts/space.py).
UNREAD_FOR_CITIZEN = (
    select(func.count(RequestMessage.id))
    .join(ProcedureRequest, ProcedureRequest.id == RequestMessage.request_id)
    .where(
        RequestMessage.tenant_id == bindparam("tenant_id"),
        ProcedureRequest.tenant_id == bindparam("tenant_id"),
        ProcedureRequest.citizen_id == bindparam("citizen_id"),
        RequestMessage.from_agent.is_(True),
        RequestMessage.read_at.is_(None),
    )
)


DRAFTS_OF_CITIZEN = select(func.count(ProcedureRequest.id)).where(
    ProcedureRequest.tenant_id == bindparam("tenant_id"),
    ProcedureRequest.citizen_id == bindparam("citizen_id"),
    ProcedureRequest.status == RequestStatus.DRAFT,
)


@dataclass
class RequestView:
    """A request with what its pages show."""

    request: ProcedureRequest
    procedure: Procedure
    events: list[RequestEvent] = field(default_factory=list)
    messages: list[RequestMessage] = field(default_factory=list)
    attachments: list[RequestAttachment] = field(default_factory=list)

    def slot_files(self) -> dict[str, list[RequestAttachment]]:
        files: dict[str, list[RequestAttachment]] = {}
        for attachment in self.attachments:
            if attachment.message_id is None:
                files.setdefault(attachment.slot, []).append(attachment)
        return files

    def message_files(self) -> dict[uuid.UUID, list[RequestAttachment]]:
        files: dict[uuid.UUID, list[RequestAttachment]] = {}
        for attachment in self.attachments:
            if attachment.message_id is not None:
                files.setdefault(attachment.message_id, []).append(attachment)
        return files


class AlreadySent(Exception):
    """The draft was sent meanwhile (another tab, a double click)."""


class _Requests(TenantRepository[ProcedureRequest]):
    model_type = ProcedureRequest


class _Events(TenantRepository[RequestEvent]):
    model_type = RequestEvent


class _Messages(TenantRepository[RequestMessage]):
    model_type = RequestMessage


class _Attachments(TenantRepository[RequestAttachment]):
    model_type = RequestAttachment


class RequestService:
    procedures = lazy_repository(ProcedureRepository)
    requests = lazy_repository(_Requests)
    events = lazy_repository(_Events)
    messages = lazy_repository(_Messages)
    attachments = lazy_repository(_Attachments)

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantSnapshot,
        files: FileStore,
        settings: Settings,
        renderer: TemplateRenderer,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.files = files
        self.settings = settings
        self.renderer = renderer
        self.queued: list[uuid.UUID] = []
        self.forget: list[str] = []  # file keys to delete once the change is committed

    # -- procedures ----------------------------------------------------------------------------
    async def active_procedures(self) -> list[Procedure]:
        return list(
            await self.procedures.get_many(
                Procedure.active.is_(True), order_by=[(Procedure.position, False)]
            )
        )

    async def procedure(self, code: str) -> Procedure | None:
        return await self.procedures.get_one_or_none(code=code, active=True)

    async def procedure_by_id(self, procedure_id: uuid.UUID) -> Procedure | None:
        return await self.procedures.get_one_or_none(id=procedure_id)

    # -- reading -------------------------------------------------------------------------------
    async def citizen_requests(
        self, citizen_id: uuid.UUID, limit: int | None = None
    ) -> list[tuple[ProcedureRequest, Procedure]]:
        statement = _citizen_requests(limit)
        parameters = {"tenant_id": self.tenant.id, "citizen_id": citizen_id}
        return [(r, p) for r, p in (await self.session.execute(statement, parameters)).all()]

    async def draft_for(
        self, procedure: Procedure, citizen_id: uuid.UUID
    ) -> ProcedureRequest | None:
        drafts = await self.requests.get_many(
            ProcedureRequest.procedure_id == procedure.id,
            ProcedureRequest.citizen_id == citizen_id,
            ProcedureRequest.status == RequestStatus.DRAFT,
            order_by=[(ProcedureRequest.updated_at, True)],
        )
        return drafts[0] if drafts else None

    async def get(
        self, request_id: uuid.UUID, citizen_id: uuid.UUID | None = None
    ) -> ProcedureRequest | None:
        """A request of this tenant; with ``citizen_id``, only if it is that citizen's."""
        if citizen_id is not None:
            return await self.requests.get_one_or_none(id=request_id, citizen_id=citizen_id)
        return await self.requests.get_one_or_none(id=request_id)

    async def anonymous_draft(self, request_id: uuid.UUID) -> ProcedureRequest | None:
        request = await self.requests.get_one_or_none(id=request_id)
        if request is None or request.citizen_id is not None:
            return None
        return request

    async def view(self, request: ProcedureRequest) -> RequestView:
        procedure = await self.procedures.get(request.procedure_id)
        events = await self.events.get_many(
            RequestEvent.request_id == request.id, order_by=[(RequestEvent.created_at, False)]
        )
        messages = await self.messages.get_many(
            RequestMessage.request_id == request.id,
            order_by=[(RequestMessage.created_at, False)],
        )
        attachments = await self.attachments.get_many(
            RequestAttachment.request_id == request.id,
            order_by=[(RequestAttachment.created_at, False)],
        )
        return RequestView(request, procedure, list(events), list(messages), list(attachments))

    async def attachment(self, request: ProcedureRequest, attachment_id: uuid.UUID) -> Any:
        return await self.attachments.get_one_or_none(id=attachment_id, request_id=request.id)

    async def content(self, attachment: RequestAttachment) -> bytes:
        return await asyncio.to_thread(self.files.get, attachment.storage_key)

    # -- drafts --------------------------------------------------------------------------------
    async def new_draft(
        self, procedure: Procedure, citizen: Citizen | None, locale: str = "fr"
    ) -> ProcedureRequest:
        request = ProcedureRequest(
            id=uuid.uuid4(),
            procedure_id=procedure.id,
            citizen_id=citizen.id if citizen else None,
            status=RequestStatus.DRAFT,
            answers={},
            email=citizen.email if citizen else "",
            name=f"{citizen.first_names} {citizen.last_name.upper()}"[:200] if citizen else "",
            locale=locale,
        )
        return await self.requests.add(request)

    def _key(self, request: ProcedureRequest, media_type: str) -> str:
        return (
            f"tenants/{self.tenant.id}/requests/{request.id}/"
            f"{uuid.uuid4().hex}.{EXTENSIONS[media_type]}"
        )

    async def _check_file(self, data: bytes) -> tuple[bytes, str]:
        return await check_upload(data, self.tenant.document_max_bytes)

    async def attach(
        self,
        request: ProcedureRequest,
        title: str,
        data: bytes,
        slot: str = "",
        message: RequestMessage | None = None,
        checked: tuple[bytes, str] | None = None,
    ) -> RequestAttachment:
        """Store a file for the request (checked like the document store's); a form slot holds
        one file: the one it held before is let go."""
        data, media_type = checked or await self._check_file(data)
        key = self._key(request, media_type)
        await asyncio.to_thread(self.files.put, key, data)
        if slot and message is None:
            await self.clear_slot(request, slot)
        attachment = RequestAttachment(
            request_id=request.id,
            message_id=message.id if message else None,
            slot=slot,
            title=title[:150],
            media_type=media_type,
            size=len(data),
            storage_key=key,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        try:
            return await self.attachments.add(attachment)
        except Exception:
            await asyncio.to_thread(self.files.delete, key)
            raise

    async def attach_stored(
        self, request: ProcedureRequest, slot: str, document: Document
    ) -> RequestAttachment:
        """A copy of a stored document (deleting it from the store later keeps the request's)."""
        data = await asyncio.to_thread(self.files.get, document.storage_key)
        return await self.attach(
            request, document.title, data, slot=slot, checked=(data, document.media_type)
        )

    async def clear_slot(self, request: ProcedureRequest, slot: str) -> None:
        for old in await self.attachments.get_many(
            RequestAttachment.request_id == request.id,
            RequestAttachment.slot == slot,
            RequestAttachment.message_id.is_(None),
        ):
            self.forget.append(old.storage_key)
            await self.attachments.delete(old.id)

    async def delete_draft(self, request: ProcedureRequest) -> None:
        for attachment in await self.attachments.get_many(
            RequestAttachment.request_id == request.id
        ):
            self.forget.append(attachment.storage_key)
        await self.requests.delete(request.id)

    async def forget_files(self) -> None:
        keys, self.forget = self.forget, []
        for key in keys:
            await asyncio.to_thread(self.files.delete, key)

    def missing_documents(self, view: RequestView) -> list[str]:
        files = view.slot_files()
        return [
            slot["label"]
            for slot in document_slots(view.procedure)
            if slot["required"] and not files.get(slot["key"])
        ]

    # -- sending -------------------------------------------------------------------------------
    async def _new_reference(self) -> str:
        year = now().year
        for _attempt in range(20):
            reference = f"D{year}-{_random(6)}"
            if not await self.requests.exists(reference=reference):
                return reference
        raise RuntimeError("no free reference")  # pragma: no cover - 31**6 references a year

    async def send(self, view: RequestView, base_url: str) -> str | None:
        """Send the draft: a reference, the status « transmise », the acknowledgement email.
        Returns the tracking code of a request sent without an account (shown once).

        The change is a conditional update (``WHERE status = 'brouillon'``): of two sends of
        the same draft at once (a double click), one wins and the other raises
        :class:`AlreadySent`, so there is one reference, one code and one email."""
        request = view.request
        reference = await self._new_reference()
        sent_at = now()
        code = _random(TRACKING_LENGTH) if request.citizen_id is None else None
        tracking_hash = _code_hash(request.id, code) if code else None
        await self.session.flush()
        result = await self.session.execute(
            update(ProcedureRequest)
            .where(
                ProcedureRequest.tenant_id == self.tenant.id,
                ProcedureRequest.id == request.id,
                ProcedureRequest.status == RequestStatus.DRAFT,
            )
            .values(
                reference=reference,
                status=RequestStatus.SENT,
                sent_at=sent_at,
                tracking_hash=tracking_hash,
                updated_at=sent_at,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise AlreadySent()
        request.reference, request.status, request.sent_at = reference, RequestStatus.SENT, sent_at
        request.tracking_hash = tracking_hash
        event = RequestEvent(request_id=request.id, status=RequestStatus.SENT, author=request.name)
        await self.events.add(event)
        view.events.append(event)
        await self._email(
            "request_received",
            request,
            procedure=view.procedure,
            rows=answer_rows(view.procedure, request.answers),
            files=[a.title for a in view.attachments],
            tracking_code=format_code(code) if code else "",
            link=self._link(request, base_url),
        )
        return code

    def _link(self, request: ProcedureRequest, base_url: str) -> str:
        if request.citizen_id is not None:
            return f"{base_url}/mon-espace/demandes/{request.id}"
        return f"{base_url}/demarches/suivi"

    async def _recipient(self, request: ProcedureRequest) -> str:
        """Where to write: a citizen's current address (they may have changed it; an erased
        account gets nothing), or the address given with a request sent without an account."""
        if request.citizen_id is None:
            return request.email
        citizen = await self.session.scalar(
            select(Citizen).where(
                Citizen.tenant_id == self.tenant.id, Citizen.id == request.citizen_id
            )
        )
        if citizen is None or citizen.status != CitizenStatus.ACTIVE:
            return ""
        return citizen.email

    async def _email(
        self, kind: str, request: ProcedureRequest, **context: Any
    ) -> OutboxMessage | None:
        recipient = await self._recipient(request)
        if not recipient:
            return None
        message = queue_email(
            self.session,
            self.renderer,
            self.settings,
            self.tenant,
            kind=kind,
            recipient=recipient,
            locale=request.locale or "fr",
            context={"request": request, "status_labels": STATUS_LABELS, **context},
        )
        self.queued.append(message.id)
        return message

    # -- following -----------------------------------------------------------------------------
    async def find_tracked(self, reference: str, email: str, code: str) -> ProcedureRequest | None:
        """The request sent without an account with this reference, email and tracking code."""
        reference = reference.strip().upper()
        request = (
            await self.requests.get_one_or_none(reference=reference)
            if 0 < len(reference) <= 20
            else None
        )
        if (
            request is None
            or request.citizen_id is not None
            or request.tracking_hash is None
            or request.email.casefold() != email.strip().casefold()
        ):
            return None
        if not hmac.compare_digest(request.tracking_hash, _code_hash(request.id, code)):
            return None
        return request

    # -- agents and messages -------------------------------------------------------------------
    async def queue(
        self,
        statuses: tuple[RequestStatus, ...] = OPEN_STATUSES,
        assigned_to: uuid.UUID | None = None,
    ) -> list[tuple[ProcedureRequest, Procedure, int]]:
        """The sent requests for the agents, oldest first, with their unread message count."""
        unread = (
            select(func.count(RequestMessage.id))
            .where(
                RequestMessage.tenant_id == self.tenant.id,
                RequestMessage.request_id == ProcedureRequest.id,
                RequestMessage.from_agent.is_(False),
                RequestMessage.read_at.is_(None),
            )
            .scalar_subquery()
        )
        statement = (
            select(ProcedureRequest, Procedure, unread)
            .join(Procedure, Procedure.id == ProcedureRequest.procedure_id)
            .where(
                ProcedureRequest.tenant_id == self.tenant.id,
                ProcedureRequest.status.in_(statuses),
            )
            .order_by(ProcedureRequest.sent_at)
            .limit(500)
        )
        if assigned_to is not None:
            statement = statement.where(ProcedureRequest.assigned_to == assigned_to)
        return [(r, p, int(n or 0)) for r, p, n in (await self.session.execute(statement)).all()]

    async def set_status(
        self,
        view: RequestView,
        status: RequestStatus,
        comment: str,
        author: str,
        base_url: str,
    ) -> RequestEvent:
        request = view.request
        request.status = status
        event = RequestEvent(
            request_id=request.id, status=status, comment=comment[:MAX_MESSAGE], author=author
        )
        await self.events.add(event)
        view.events.append(event)
        await self._email(
            "request_status",
            request,
            procedure=view.procedure,
            status=status,
            comment=comment,
            link=self._link(request, base_url),
        )
        return event

    async def post_message(
        self,
        view: RequestView,
        body: str,
        from_agent: bool,
        author: str,
        files: list[tuple[str, bytes, tuple[bytes, str]]],
        base_url: str,
    ) -> RequestMessage:
        """Add a message (and its checked files); the citizen gets an email when an agent
        writes. A citizen writing while complements are awaited sends the request back to the
        agents (« en cours d'instruction »)."""
        request = view.request
        message = RequestMessage(
            request_id=request.id, from_agent=from_agent, author=author, body=body
        )
        await self.messages.add(message)
        for title, data, checked in files:
            view.attachments.append(
                await self.attach(request, title, data, message=message, checked=checked)
            )
        view.messages.append(message)
        request.updated_at = now()
        if from_agent:
            await self._email(
                "request_message",
                request,
                procedure=view.procedure,
                link=self._link(request, base_url),
            )
        elif request.status == RequestStatus.WAITING:
            back = (
                RequestStatus.IN_REVIEW
                if RequestStatus.IN_REVIEW.value in view.procedure.statuses
                else RequestStatus.SENT
            )
            event = RequestEvent(
                request_id=request.id,
                status=back,
                comment=_("Compléments envoyés par le demandeur."),
                author=author,
            )
            request.status = back
            await self.events.add(event)
            view.events.append(event)
        return message

    async def check_files(
        self, uploads: list[tuple[str, bytes]]
    ) -> tuple[list[tuple[str, bytes, tuple[bytes, str]]], str]:
        """Checked files of a message, or the error message for the citizen."""
        if len(uploads) > MAX_MESSAGE_FILES:
            return [], _("%(count)s fichiers au plus par message.", count=MAX_MESSAGE_FILES)
        checked: list[tuple[str, bytes, tuple[bytes, str]]] = []
        for name, data in uploads:
            try:
                checked.append((name, data, await self._check_file(data)))
            except DocumentError as exc:
                return [], f"{name[:80]} : {exc}"
        return checked, ""

    def mark_read(self, view: RequestView, by_agent: bool) -> None:
        """The other side's messages are now read."""
        stamp = now()
        for message in view.messages:
            if message.from_agent != by_agent and message.read_at is None:
                message.read_at = stamp
