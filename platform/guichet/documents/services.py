"""Supporting documents: what may be stored, where, and how much.

The type is read from the content (PDF, JPEG, PNG), never from the name or the browser's claim.
Images are re-encoded (their metadata, GPS position included, disappears); a PDF with active
content (JavaScript, launch actions, embedded files) or HTML inside is refused. Files go to the
file store under a platform-made key; downloads get a platform-made name.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import uuid
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.db.repository import TenantRepository
from guichet.documents.models import Document, DocumentKind
from guichet.files import FileStore
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.text import ascii_fold

__all__ = ["KIND_LABELS", "DocumentError", "DocumentService", "check_upload", "sniff_document"]


KIND_LABELS = {
    DocumentKind.PROOF_OF_ADDRESS: N_("Justificatif de domicile"),
    DocumentKind.IDENTITY: N_("Pièce d'identité"),
    DocumentKind.TAX_NOTICE: N_("Avis d'imposition"),
    DocumentKind.BANK_DETAILS: N_("RIB"),
    DocumentKind.CAF: N_("Attestation CAF"),
    DocumentKind.OTHER: N_("Autre"),
}
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
MAX_PIXELS = 60_000_000
MAX_SIDE = 3000
SOON = timedelta(days=30)
_ACTIVE_PDF = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia|XFA)\b")
_MARKUP = re.compile(rb"<\s*(?:html|script|svg|iframe|body|object)\b", re.IGNORECASE)


class DocumentError(ValueError):
    """A file that cannot be stored; the message is for the citizen."""


def sniff_document(data: bytes) -> str:
    """The media type read from the content, or :class:`DocumentError`."""
    if data.startswith(b"%PDF-"):
        tail = data[-2048:]
        if b"%%EOF" not in tail:
            raise DocumentError(_("Ce PDF est incomplet ou abîmé."))
        if _ACTIVE_PDF.search(data):
            raise DocumentError(
                _(
                    "Ce PDF contient des éléments actifs (scripts, pièces "
                    "jointes) : enregistrez-le de nouveau en PDF simple, ou "
                    "scannez le document."
                )
            )
        if _MARKUP.search(data[:65536]) or _MARKUP.search(tail):
            raise DocumentError(_("Ce fichier n'est pas un PDF ordinaire."))
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    raise DocumentError(_("Seuls les fichiers PDF, JPEG et PNG sont acceptés."))


def clean_image(data: bytes, media_type: str) -> bytes:
    """The image re-encoded in its own format, without metadata, at most 3000 px a side."""
    expected = "JPEG" if media_type == "image/jpeg" else "PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != expected:
                raise DocumentError(_("Seuls les fichiers PDF, JPEG et PNG sont acceptés."))
            if image.width * image.height > MAX_PIXELS:
                raise DocumentError(_("Cette image est trop grande (en pixels)."))
            image.load()
    except DocumentError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise DocumentError(_("Cette image est trop grande (en pixels).")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DocumentError(_("Cette image est illisible ou abîmée.")) from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    output = io.BytesIO()
    picture: Image.Image = image
    if expected == "JPEG":
        picture.convert("RGB").save(output, "JPEG", quality=90, optimize=True)
    else:
        if picture.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            picture = picture.convert("RGBA")
        picture.save(output, "PNG", optimize=True)
    return output.getvalue()


def _slug(text: str) -> str:
    folded = ascii_fold(text)
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:60] or "document"


async def check_upload(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """(what to store, its media type) for an uploaded file, or :class:`DocumentError`: not
    empty, not too big, a real PDF, JPEG or PNG, images re-encoded without their metadata."""
    if not data:
        raise DocumentError(_("Le fichier est vide."))
    if len(data) > max_bytes:
        raise DocumentError(
            _(
                "Le fichier dépasse %(mb)s Mo, la taille maximale.",
                mb=max_bytes // (1024 * 1024),
            )
        )
    media_type = sniff_document(data)
    if media_type != "application/pdf":
        data = await asyncio.to_thread(clean_image, data, media_type)
    return data, media_type


class DocumentRepository(TenantRepository[Document]):
    model_type = Document


@dataclass
class Usage:
    used: int
    quota: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.quota)) if self.quota else 100


# Built once with bound parameters (the tenant is always one): see accounts/services.py.
_MINE = (
    select(Document)
    .where(
        Document.tenant_id == bindparam("tenant_id"), Document.citizen_id == bindparam("citizen_id")
    )
    .order_by(Document.created_at.desc())
)

# The dashboard's counts (accounts/space.py): all of the citizen's documents, and those that
# ``validity`` labels "expired" or "soon" — a date on or before ``renew_before(today)``.
DOCUMENTS_COUNT = (
    select(func.count())
    .select_from(Document)
    .where(
        Document.tenant_id == bindparam("tenant_id"), Document.citizen_id == bindparam("citizen_id")
    )
)
TO_RENEW_COUNT = DOCUMENTS_COUNT.where(Document.valid_until <= bindparam("renew_before"))


def renew_before(today: date) -> date:
    """The last validity date ``validity`` labels "soon" (earlier ones are "expired")."""
    return today + SOON


class DocumentService:
    def __init__(
        self, session: AsyncSession, tenant: TenantSnapshot, citizen_id: uuid.UUID, files: FileStore
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.citizen_id = citizen_id
        self.files = files
        self.repository = DocumentRepository(session=session, tenant_id=tenant.id)

    async def list(self) -> list[Document]:
        parameters = {"tenant_id": self.tenant.id, "citizen_id": self.citizen_id}
        return list((await self.session.execute(_MINE, parameters)).scalars())

    async def get(self, document_id: uuid.UUID) -> Document | None:
        return await self.repository.get_one_or_none(id=document_id, citizen_id=self.citizen_id)

    async def usage(self) -> Usage:
        used = await self.session.scalar(
            select(func.coalesce(func.sum(Document.size), 0)).where(
                Document.tenant_id == self.tenant.id, Document.citizen_id == self.citizen_id
            )
        )
        return Usage(int(used or 0), self.tenant.document_quota_bytes)

    async def _prepare(self, data: bytes, replacing: Document | None = None) -> tuple[bytes, str]:
        data, media_type = await check_upload(data, self.tenant.document_max_bytes)
        usage = await self.usage()
        freed = replacing.size if replacing else 0
        if usage.used - freed + len(data) > usage.quota:
            raise DocumentError(
                _(
                    "Votre espace de stockage est plein (%(mb)s Mo) : supprimez "
                    "des pièces dont vous n'avez plus besoin.",
                    mb=usage.quota // (1024 * 1024),
                )
            )
        return data, media_type

    def _key(self, media_type: str) -> str:
        return (
            f"tenants/{self.tenant.id}/citizens/{self.citizen_id}/documents/"
            f"{uuid.uuid4().hex}.{EXTENSIONS[media_type]}"
        )

    async def add(
        self, title: str, kind: DocumentKind, valid_until: date | None, data: bytes
    ) -> Document:
        data, media_type = await self._prepare(data)
        key = self._key(media_type)
        await asyncio.to_thread(self.files.put, key, data)
        document = Document(
            citizen_id=self.citizen_id,
            title=title,
            kind=kind,
            media_type=media_type,
            size=len(data),
            storage_key=key,
            sha256=hashlib.sha256(data).hexdigest(),
            valid_until=valid_until,
        )
        try:
            return await self.repository.add(document)
        except Exception:
            await asyncio.to_thread(self.files.delete, key)
            raise

    async def replace(self, document: Document, data: bytes) -> str:
        """Store the new file; returns the old key, to delete once the change is committed."""
        data, media_type = await self._prepare(data, replacing=document)
        key = self._key(media_type)
        await asyncio.to_thread(self.files.put, key, data)
        old = document.storage_key
        document.storage_key, document.media_type = key, media_type
        document.size, document.sha256 = len(data), hashlib.sha256(data).hexdigest()
        return old

    async def content(self, document: Document) -> bytes:
        return await asyncio.to_thread(self.files.get, document.storage_key)

    async def delete(self, document: Document) -> str:
        key = document.storage_key
        await self.repository.delete(document.id)
        return key

    async def forget_file(self, key: str) -> None:
        await asyncio.to_thread(self.files.delete, key)

    def download_name(self, document: Document) -> str:
        stamp = (document.updated_at or document.created_at).date().isoformat()
        return f"{_slug(document.title)}-{stamp}.{EXTENSIONS[document.media_type]}"


def validity(document: Document, today: date | None = None) -> str:
    """'', 'soon' or 'expired', for the "expire bientôt" / "expiré" labels."""
    if document.valid_until is None:
        return ""
    today = today or date.today()
    if document.valid_until < today:
        return "expired"
    if document.valid_until <= renew_before(today):
        return "soon"
    return ""


def clean_metadata(raw: Any) -> tuple[dict[str, str], dict[str, str]]:
    from guichet.accounts.forms import parse_date

    def get(name: str, limit: int) -> str:
        value = raw.get(name, "")
        return value.strip()[:limit] if isinstance(value, str) else ""

    values = {
        "title": get("title", 150),
        "kind": get("kind", 30),
        "valid_until": get("valid_until", 20),
    }
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = _("Donnez un titre à la pièce, par exemple « Facture EDF mars 2025 ».")
    if values["kind"] not in {k.value for k in DocumentKind}:
        errors["kind"] = _("Choisissez le type de pièce dans la liste.")
    if values["valid_until"]:
        parsed = parse_date(values["valid_until"])
        if parsed is None or parsed.year < 1900 or parsed.year > 2200:
            errors["valid_until"] = _("Date invalide : saisissez-la sous la forme jj/mm/aaaa.")
        else:
            values["valid_until"] = parsed.isoformat()
    return values, errors
