"""Public content of a tenant: news, current CGU, help sections and legal pages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.db.repository import TenantRepository, lazy_repository
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.tenancy.models import ContentPage, NewsItem, TermsVersion
from guichet.tenancy.snapshot import TenantSnapshot

__all__ = [
    "HELP_SECTIONS",
    "LEGAL_PAGES",
    "ContentPageRepository",
    "NewsRepository",
    "PortalService",
    "TermsRepository",
]

CONTENT_DIR = Path(__file__).parent / "content"


# (key, anchor, French title as in the guide — a msgid of the catalogs)
HELP_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("help.espace-personnel", "espace-personnel", N_("GÉRER VOTRE ESPACE PERSONNEL")),
    (
        "help.demarche-hors-espace",
        "demarche-hors-espace",
        N_("SAISIR UNE DÉMARCHE EN DEHORS D'UN ESPACE PERSONNEL"),
    ),
    (
        "help.demarche-dans-espace",
        "demarche-dans-espace",
        N_("SAISIR UNE DÉMARCHE DANS VOTRE ESPACE PERSONNEL"),
    ),
    ("help.suivre-demande", "suivre-demande", N_("SUIVRE UNE DEMANDE")),
    ("help.tableau-de-bord", "tableau-de-bord", N_("GÉRER VOTRE TABLEAU DE BORD")),
    ("help.espaces-partenaires", "espaces-partenaires", N_("ACCÉDER AUX ESPACES PARTENAIRES")),
)
LEGAL_PAGES = ("mentions-legales", "donnees-personnelles", "accessibilite", "contacts", "depliant")


class NewsRepository(TenantRepository[NewsItem]):
    model_type = NewsItem


class TermsRepository(TenantRepository[TermsVersion]):
    model_type = TermsVersion


class ContentPageRepository(TenantRepository[ContentPage]):
    model_type = ContentPage


@dataclass(frozen=True)
class Section:
    key: str
    anchor: str
    title: str
    body: str


@lru_cache(maxsize=256)
def default_content(key: str, locale: str) -> str:
    for loc in (locale, "fr"):
        path = CONTENT_DIR / loc / f"{key}.md"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# Built once with bound parameters: building them per request (the uuid comparison, a new
# statement's cache key) was about a fifth of the anonymous home page's CPU (bench/README.md).
_LATEST_NEWS = (
    select(NewsItem)
    .where(NewsItem.tenant_id == bindparam("tenant_id"))
    .order_by(NewsItem.published_on.desc(), NewsItem.key)
    .limit(bindparam("limit"))
)
# Also the accounts' (accounts/services.py): the CGU a citizen must have accepted.
CURRENT_TERMS = (
    select(TermsVersion)
    .where(TermsVersion.tenant_id == bindparam("tenant_id"))
    .order_by(TermsVersion.version.desc())
    .limit(1)
)


class PortalService:
    """Reads a tenant's public content; every query is bound to the tenant."""

    news = lazy_repository(NewsRepository)
    terms = lazy_repository(TermsRepository)
    pages = lazy_repository(ContentPageRepository)

    def __init__(self, session: AsyncSession, tenant: TenantSnapshot) -> None:
        self.session = session
        self.tenant = tenant

    async def latest_news(self, limit: int = 5) -> list[NewsItem]:
        parameters = {"tenant_id": self.tenant.id, "limit": limit}
        return list((await self.session.execute(_LATEST_NEWS, parameters)).scalars())

    async def current_terms(self) -> TermsVersion | None:
        parameters = {"tenant_id": self.tenant.id}
        return (await self.session.execute(CURRENT_TERMS, parameters)).scalar_one_or_none()

    async def _override(self, key: str, locale: str) -> ContentPage | None:
        pages = await self.pages.get_many(ContentPage.key == key)
        by_locale = {p.locale: p for p in pages}
        return by_locale.get(locale) or by_locale.get(self.tenant.default_locale)

    def _fill(self, text: str) -> str:
        t = self.tenant
        values = _Placeholders(
            tenant_name=t.name,
            the_tenant=t.the_name,  # « le CCAS de Castres », « la Mairie de Val-Dorée »
            The_tenant=t.the_name[:1].upper() + t.the_name[1:],
            of_tenant=t.of_name,  # « du CCAS de Castres », « de la Mairie de Val-Dorée »
            at_tenant=t.at_name,  # « au CCAS de Castres », « à la Mairie de Val-Dorée »
            publication_director=_("le maire ou la maire")
            if t.kind == "commune"
            else _("le président ou la présidente %(of)s", of=t.of_name),
            tenant_tagline=t.tagline,
            contact_phone=t.contact_phone,
            contact_email=t.contact_email,
            contact_hours=t.contact_hours,
            contact_address=t.contact_address or t.name,
            main_site_url=t.main_site_url,
        )
        return text.format_map(values)

    async def help_sections(self, locale: str) -> list[Section]:
        sections = []
        for key, anchor, title in HELP_SECTIONS:
            override = await self._override(key, locale)
            body = override.body if override else default_content(key, locale)
            sections.append(Section(key, anchor, title, body))
        return sections

    async def legal_page(self, name: str, locale: str) -> str:
        key = f"page.{name}"
        override = await self._override(key, locale)
        if override is not None:
            return override.body
        return self._fill(default_content(key, locale))
