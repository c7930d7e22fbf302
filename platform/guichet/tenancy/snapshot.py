"""An immutable copy of a tenant's settings, safe to cache and share between requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from guichet.tenancy.models import Tenant, TenantStatus

__all__ = ["PasswordPolicy", "TenantSnapshot", "french_forms"]

# The article a French sentence puts before an institution's name, by its first word: "le CCAS
# de Castres" (du, au), "la Mairie de Val-Dorée" (de la, à la), "l'Agglomération …" (de l',
# à l'); any other first word is a place, which takes none ("Castres", "d'Albi").
_MASCULINE = {
    "ccas", "cias", "centre", "conseil", "département", "pôle", "service", "sivu", "sivom",
    "syndicat",
}  # fmt: skip
_FEMININE = {
    "commune", "communauté", "direction", "maison", "mairie", "métropole", "régie", "ville",
}  # fmt: skip
_ELIDED = {
    "agence", "agglomération", "association", "ehpad", "établissement", "espace", "hôtel",
    "office", "union",
}  # fmt: skip


def french_forms(name: str) -> tuple[str, str, str]:
    """(le …, du …, au …) for ``name``: "le CCAS de Castres", "du CCAS de Castres", "au CCAS
    de Castres"; "la Mairie …", "de la Mairie …", "à la Mairie …"; "l'Agglomération …",
    "de l'…", "à l'…"; "Castres", "de Castres", "à Castres"; "Albi", "d'Albi", "à Albi";
    "Le Mans", "du Mans", "au Mans"; "Les Sables-d'Olonne", "des Sables…", "aux Sables…"."""
    first = name.split(" ", 1)[0].split("-", 1)[0].lower().replace(".", "")
    rest = name.split(" ", 1)[1] if " " in name else ""
    if first == "le" and rest:  # a place whose name has its article: du Mans, au Mans
        return name, f"du {rest}", f"au {rest}"
    if first == "les" and rest:
        return name, f"des {rest}", f"aux {rest}"
    if first in _MASCULINE:
        return f"le {name}", f"du {name}", f"au {name}"
    if first in _FEMININE:
        return f"la {name}", f"de la {name}", f"à la {name}"
    if first in _ELIDED:
        return f"l'{name}", f"de l'{name}", f"à l'{name}"
    if first[:1] in "aeiouyàâéèêëîïôöûü":
        return name, f"d'{name}", f"à {name}"
    return name, f"de {name}", f"à {name}"


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 8
    min_lowercase: int = 1
    min_uppercase: int = 0
    min_digits: int = 1
    min_special: int = 0


@dataclass(frozen=True)
class TenantSnapshot:
    id: uuid.UUID
    slug: str
    name: str
    short_name: str
    tagline: str
    kind: str
    status: TenantStatus
    maintenance_message: str
    theme: str
    primary_color: str
    on_primary_color: str
    accent_color: str
    on_accent_color: str
    logo_file: str
    logo_media_type: str
    logo_hash: str
    logo_alt: str
    welcome_title: str
    welcome_text: str
    main_site_url: str
    copyright_since: int | None
    contact_phone: str
    contact_email: str
    contact_hours: str
    contact_address: str
    default_locale: str
    locales: tuple[str, ...]
    password_policy: PasswordPolicy
    features: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    document_max_bytes: int = 10 * 1024 * 1024
    document_quota_bytes: int = 100 * 1024 * 1024

    @classmethod
    def from_model(cls, tenant: Tenant) -> TenantSnapshot:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            short_name=tenant.short_name or tenant.name,
            tagline=tenant.tagline,
            kind=str(tenant.kind),
            status=TenantStatus(tenant.status),
            maintenance_message=tenant.maintenance_message,
            theme=tenant.theme,
            primary_color=tenant.primary_color,
            on_primary_color=tenant.on_primary_color,
            accent_color=tenant.accent_color,
            on_accent_color=tenant.on_accent_color,
            logo_file=tenant.logo_file,
            logo_media_type=tenant.logo_media_type,
            logo_hash=tenant.logo_hash,
            logo_alt=tenant.logo_alt,
            welcome_title=tenant.welcome_title,
            welcome_text=tenant.welcome_text,
            main_site_url=tenant.main_site_url,
            copyright_since=tenant.copyright_since,
            contact_phone=tenant.contact_phone,
            contact_email=tenant.contact_email,
            contact_hours=tenant.contact_hours,
            contact_address=tenant.contact_address,
            default_locale=tenant.default_locale,
            locales=tuple(tenant.locales or [tenant.default_locale]),
            password_policy=PasswordPolicy(
                min_length=tenant.password_min_length,
                min_lowercase=tenant.password_min_lowercase,
                min_uppercase=tenant.password_min_uppercase,
                min_digits=tenant.password_min_digits,
                min_special=tenant.password_min_special,
            ),
            features=dict(tenant.features or {}),
            version=tenant.updated_at.isoformat() if tenant.updated_at else "",
            document_max_bytes=tenant.document_max_bytes,
            document_quota_bytes=tenant.document_quota_bytes,
        )

    # In French sentences, the name with its article ("Contactez le CCAS de Castres", "le
    # portail du CCAS de Castres", "restent au CCAS de Castres"); in another language, the name.
    def _french(self, name: str, form: int) -> str:
        from guichet.i18n import current_locale

        return french_forms(name)[form] if current_locale() == "fr" else name

    @property
    def the_name(self) -> str:
        return self._french(self.name, 0)

    @property
    def of_name(self) -> str:
        return self._french(self.name, 1)

    @property
    def at_name(self) -> str:
        return self._french(self.name, 2)

    def feature(self, name: str, default: bool = True) -> bool:
        return bool(self.features.get(name, default))
