"""The optional photo of the identity step: JPEG or PNG read from its content, size-limited,
re-encoded (which drops every metadata, GPS position included) and scaled down."""

from __future__ import annotations

import io
import uuid
import warnings

from PIL import Image, UnidentifiedImageError

from guichet.files import FileStore
from guichet.i18n import gettext as _

__all__ = ["MAX_PHOTO_BYTES", "PhotoError", "store_photo"]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 25_000_000  # a decompression bomb is refused before decoding
MAX_SIDE = 800


class PhotoError(ValueError):
    """A photo that cannot be accepted; the message is for the citizen."""


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    return None


def clean_photo(data: bytes) -> bytes:
    """A metadata-free JPEG of at most 800×800 pixels, or :class:`PhotoError`."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(_("La photo dépasse 5 Mo : choisissez une image plus légère."))
    kind = _sniff(data)
    if kind is None:
        raise PhotoError(_("La photo doit être une image JPEG ou PNG."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhotoError(
            _("Cette image est trop grande (en pixels) pour être une photo.")
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise PhotoError(_("Cette image est illisible ou abîmée.")) from None
    try:
        with image:
            if image.format != kind:
                raise PhotoError(_("La photo doit être une image JPEG ou PNG."))
            if image.width * image.height > MAX_PIXELS:
                raise PhotoError(_("Cette image est trop grande (en pixels) pour être une photo."))
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            image.load()
            picture = image.convert("RGB")
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise PhotoError(_("Cette image est illisible ou abîmée.")) from None
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    output = io.BytesIO()
    picture.save(output, "JPEG", quality=85, optimize=True)  # no exif= : metadata dropped
    return output.getvalue()


def store_photo(files: FileStore, tenant_id: uuid.UUID, data: bytes) -> str:
    key = f"tenants/{tenant_id}/photos/{uuid.uuid4().hex}.jpg"
    files.put(key, clean_photo(data))
    return key
