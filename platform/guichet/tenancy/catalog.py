"""The declarative tenant catalog: ``tenants/<slug>/tenant.toml`` and its assets.

:func:`load_catalog` reads and validates a tenant folder, reporting the first problems as
``file: field: reason``; :func:`apply_catalog` creates or updates the tenant so that applying the
same folder twice changes nothing the second time. Published CGU versions are immutable: a
changed text needs a new version number.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.forms import valid_phone
from guichet.accounts.models import ServiceAccount, clean_postal_address, postal_address_problem
from guichet.accounts.secrets import key_digest, normalize_key
from guichet.billing.crypto import decrypt_options, encrypt_options
from guichet.files import FileStore
from guichet.procedures.catalog import apply_procedures, parse_procedures
from guichet.tenancy.contrast import AA_NORMAL_TEXT, InvalidColour, contrast_ratio
from guichet.tenancy.models import (
    ContentPage,
    NewsItem,
    Service,
    Tenant,
    TenantKind,
    TenantStatus,
    TermsVersion,
)
from guichet.tenancy.slugs import slug_problem

__all__ = ["CatalogError", "TenantCatalog", "apply_catalog", "check_branding", "load_catalog"]

SUPPORTED_LOCALES = ("fr", "en")
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
MAX_LOGO_BYTES = 512 * 1024
PAGE_BACKGROUND = "#ffffff"
_SERVICE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")


class CatalogError(Exception):
    """A tenant file that cannot be applied: which file, which field, and why."""

    def __init__(self, file: Path | str, problems: list[tuple[str, str]]) -> None:
        self.file = str(file)
        self.problems = problems
        lines = [f"{self.file}: {fld}: {reason}" for fld, reason in problems]
        super().__init__("\n".join(lines))


@dataclass
class TermsEntry:
    version: int
    title: str
    body: str
    published_at: datetime


@dataclass
class NewsEntry:
    key: str
    published_on: date
    title: str
    body: str


@dataclass
class TenantCatalog:
    folder: Path
    tenant: dict[str, Any]
    logo: bytes | None = None
    logo_suffix: str = ""
    terms: list[TermsEntry] = field(default_factory=list)
    news: list[NewsEntry] = field(default_factory=list)
    services: list[dict[str, str]] = field(default_factory=list)
    pages: list[dict[str, str]] = field(default_factory=list)
    digest: str = ""
    access_keys: list[dict[str, str]] = field(default_factory=list)
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    procedures: list[dict[str, Any]] = field(default_factory=list)
    # the tenant's fields the file does not state (their values above are the defaults)
    left_out: frozenset[str] = frozenset()


def check_branding(colours: dict[str, str]) -> list[tuple[str, str]]:
    """Problems of a colour set: each text/background pair must reach WCAG AA (4.5:1)."""
    problems: list[tuple[str, str]] = []
    for name, value in colours.items():
        try:
            contrast_ratio(value, "#000000")
        except InvalidColour as exc:
            problems.append((f"branding.{name}", str(exc)))
    if problems:
        return problems
    pairs = [
        ("primary", "on_primary", "text on the primary colour (header, buttons)"),
        ("accent", "on_accent", "text on the accent colour (logout button, highlights)"),
    ]
    for background, text, what in pairs:
        ratio = contrast_ratio(colours[background], colours[text])
        if ratio < AA_NORMAL_TEXT:
            problems.append(
                (
                    f"branding.{text}",
                    f"{colours[text]} on {colours[background]} has a contrast of {ratio}:1, "
                    f"under the 4.5:1 that WCAG AA requires for {what}; choose a darker or lighter "
                    "colour",
                )
            )
    ratio = contrast_ratio(colours["primary"], PAGE_BACKGROUND)
    if ratio < AA_NORMAL_TEXT:
        problems.append(
            (
                "branding.primary",
                f"{colours['primary']} on the white page has a contrast of {ratio}:1, under 4.5:1 "
                "(links and titles use it); choose a darker colour",
            )
        )
    return problems


_TOP_KEYS = {
    "slug",
    "name",
    "short_name",
    "tagline",
    "kind",
    "status",
    "maintenance_message",
    "theme",
    "default_locale",
    "locales",
    "main_site_url",
    "copyright_since",
    "branding",
    "contact",
    "welcome",
    "password_policy",
    "features",
    "terms",
    "news",
    "services",
    "pages",
    "access_keys",
    "documents",
    "ledgers",
    "procedures",
}
_SECTION_KEYS = {
    "branding": {"logo", "logo_alt", "primary", "on_primary", "accent", "on_accent"},
    "contact": {"phone", "email", "hours", "address"},
    "welcome": {"title", "text"},
    "documents": {"max_size_mb", "quota_mb"},
    "password_policy": {
        "min_length",
        "min_lowercase",
        "min_uppercase",
        "min_digits",
        "min_special",
    },
}


# Where the file states each tenant field it may leave out (section, key). Applied to an
# existing tenant, a changed file sets what it states and leaves the rest as it is: what the
# tenant's administrators set on screen (a welcome title, a logo…) does not go back to a default
# because the file never mentioned it.
_OPTIONAL_FIELDS: dict[str, tuple[str | None, str]] = {
    **{
        name: (None, name)
        for name in (
            "short_name",
            "tagline",
            "status",
            "maintenance_message",
            "theme",
            "default_locale",
            "locales",
            "main_site_url",
            "copyright_since",
            "features",
        )
    },
    "primary_color": ("branding", "primary"),
    "on_primary_color": ("branding", "on_primary"),
    "accent_color": ("branding", "accent"),
    "on_accent_color": ("branding", "on_accent"),
    "logo_alt": ("branding", "logo_alt"),
    "logo_file": ("branding", "logo"),
    "logo_hash": ("branding", "logo"),
    "logo_media_type": ("branding", "logo"),
    "contact_hours": ("contact", "hours"),
    "contact_address": ("contact", "address"),
    "welcome_title": ("welcome", "title"),
    **{
        f"password_{key}": ("password_policy", key)
        for key in ("min_length", "min_lowercase", "min_uppercase", "min_digits", "min_special")
    },
    "document_max_bytes": ("documents", "max_size_mb"),
    "document_quota_bytes": ("documents", "quota_mb"),
}


def _left_out(data: dict[str, Any]) -> frozenset[str]:
    def stated(section: str | None, key: str) -> bool:
        source = data.get(section, {}) if section else data
        return isinstance(source, dict) and key in source

    return frozenset(name for name, where in _OPTIONAL_FIELDS.items() if not stated(*where))


def load_catalog(folder: Path, themes_dir: Path | None = None) -> TenantCatalog:
    """Read and validate ``folder/tenant.toml``; raise :class:`CatalogError` on any problem."""
    path = folder / "tenant.toml"
    if not path.is_file():
        raise CatalogError(path, [("(file)", "no tenant.toml in this folder")])
    raw_bytes = path.read_bytes()
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(path, [("(syntax)", str(exc))]) from None

    problems: list[tuple[str, str]] = []

    def need_str(source: dict[str, Any], key: str, label: str, required: bool = True) -> str:
        value = source.get(key, "")
        if not isinstance(value, str):
            problems.append((label, "expected text"))
            return ""
        if required and not value.strip():
            problems.append((label, "required"))
        return value.strip() if key not in ("text", "maintenance_message") else value

    for key in sorted(set(data) - _TOP_KEYS):
        problems.append((key, "unknown field"))
    for section, allowed in _SECTION_KEYS.items():
        value = data.get(section, {})
        if not isinstance(value, dict):
            problems.append((section, "expected a table"))
            data[section] = {}
            continue
        for key in sorted(set(value) - allowed):
            problems.append((f"{section}.{key}", "unknown field"))

    slug = need_str(data, "slug", "slug")
    if slug and (why := slug_problem(slug)):
        problems.append(("slug", why))
    if slug and slug != folder.name:
        problems.append(("slug", f"'{slug}' differs from the folder name '{folder.name}'"))
    tenant: dict[str, Any] = {"slug": slug}
    tenant["name"] = need_str(data, "name", "name")
    tenant["short_name"] = need_str(data, "short_name", "short_name", required=False)
    tenant["tagline"] = need_str(data, "tagline", "tagline", required=False)
    kind = data.get("kind", "")
    if not isinstance(kind, str) or kind not in {k.value for k in TenantKind}:
        problems.append(("kind", f"{kind!r} is not one of: commune, ccas"))
    tenant["kind"] = kind
    status = data.get("status", "active")
    if not isinstance(status, str) or status not in {s.value for s in TenantStatus}:
        problems.append(("status", f"{status!r} is not one of: active, maintenance, suspended"))
    tenant["status"] = status
    tenant["maintenance_message"] = need_str(
        data, "maintenance_message", "maintenance_message", required=status == "maintenance"
    )
    theme = data.get("theme", "default")
    if not isinstance(theme, str) or (
        themes_dir is not None and not (themes_dir / theme / "templates").is_dir()
    ):
        problems.append(("theme", f"no theme named {theme!r} in themes/"))
    tenant["theme"] = theme
    locales = data.get("locales", ["fr", "en"])
    if (
        not isinstance(locales, list)
        or not locales
        or any(loc not in SUPPORTED_LOCALES for loc in locales)
    ):
        problems.append(("locales", f"a list among {', '.join(SUPPORTED_LOCALES)}"))
        locales = ["fr"]
    tenant["locales"] = locales
    default_locale = data.get("default_locale", "fr")
    if default_locale not in locales:
        problems.append(("default_locale", f"{default_locale!r} is not in locales"))
    tenant["default_locale"] = default_locale
    main_site = need_str(data, "main_site_url", "main_site_url", required=False)
    if main_site and not main_site.startswith(("https://", "http://")):
        problems.append(("main_site_url", "must start with https:// or http://"))
    tenant["main_site_url"] = main_site
    since = data.get("copyright_since")
    if since is not None and (not isinstance(since, int) or not 1990 <= since <= 2100):
        problems.append(("copyright_since", "a year such as 2018"))
    tenant["copyright_since"] = since

    branding = data.get("branding", {})
    colours = {
        "primary": branding.get("primary", "#1f4e79"),
        "on_primary": branding.get("on_primary", "#ffffff"),
        "accent": branding.get("accent", "#a63f00"),
        "on_accent": branding.get("on_accent", "#ffffff"),
    }
    problems.extend(check_branding(colours))
    tenant.update(
        primary_color=str(colours["primary"]).lower(),
        on_primary_color=str(colours["on_primary"]).lower(),
        accent_color=str(colours["accent"]).lower(),
        on_accent_color=str(colours["on_accent"]).lower(),
        logo_alt=need_str(branding, "logo_alt", "branding.logo_alt", required=False),
    )
    logo: bytes | None = None
    logo_suffix = ""
    if "logo" in branding:
        logo_path = _inside(folder, branding["logo"], "branding.logo", problems)
        if logo_path is not None:
            logo_suffix = logo_path.suffix.lower()
            if logo_suffix not in LOGO_TYPES:
                problems.append(("branding.logo", "a .svg, .png or .jpg file"))
            elif not logo_path.is_file():
                problems.append(("branding.logo", f"{logo_path.name} not found beside tenant.toml"))
            else:
                logo = logo_path.read_bytes()
                if len(logo) > MAX_LOGO_BYTES:
                    problems.append(("branding.logo", "larger than 512 KB"))
                elif logo_suffix != ".svg" and (problem := raster_logo_problem(logo)):
                    problems.append(("branding.logo", problem))
                elif logo_suffix == ".svg" and _svg_is_active(logo):
                    problems.append(
                        (
                            "branding.logo",
                            "an SVG logo may not hold scripts, event handlers, "
                            "foreign objects or external references",
                        )
                    )
                if not tenant["logo_alt"]:
                    problems.append(("branding.logo_alt", "a logo needs its text alternative"))

    contact = data.get("contact", {})
    tenant["contact_phone"] = need_str(contact, "phone", "contact.phone")
    if tenant["contact_phone"] and not valid_phone(tenant["contact_phone"]):
        problems.append(("contact.phone", "10 digits (05 63 71 56 13) or +33 5 63 71 56 13"))
    tenant["contact_email"] = need_str(contact, "email", "contact.email")
    if tenant["contact_email"] and "@" not in tenant["contact_email"]:
        problems.append(("contact.email", "not an email address"))
    tenant["contact_hours"] = need_str(contact, "hours", "contact.hours", required=False)
    tenant["contact_address"] = need_str(contact, "address", "contact.address", required=False)
    welcome = data.get("welcome", {})
    tenant["welcome_title"] = need_str(welcome, "title", "welcome.title", required=False)
    tenant["welcome_text"] = need_str(welcome, "text", "welcome.text")

    policy = data.get("password_policy", {})
    defaults = {
        "min_length": 8,
        "min_lowercase": 1,
        "min_uppercase": 0,
        "min_digits": 1,
        "min_special": 0,
    }
    for key, default in defaults.items():
        value = policy.get(key, default)
        low = 8 if key == "min_length" else 0
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 64:
            problems.append((f"password_policy.{key}", f"a whole number from {low} to 64"))
            value = default
        tenant[f"password_{key}"] = value
    counted = sum(tenant[f"password_{k}"] for k in defaults if k != "min_length")
    if counted > tenant["password_min_length"]:
        problems.append(("password_policy", "the required characters exceed min_length"))

    documents = data.get("documents", {})
    for key, default, low, high in (("max_size_mb", 10, 1, 100), ("quota_mb", 100, 1, 10_000)):
        value = documents.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(
                (f"documents.{key}", f"a whole number of megabytes from {low} to {high}")
            )
            value = default
        tenant["document_max_bytes" if key == "max_size_mb" else "document_quota_bytes"] = (
            value * 1024 * 1024
        )

    features = data.get("features", {})
    if not isinstance(features, dict) or any(not isinstance(v, bool) for v in features.values()):
        problems.append(("features", "a table of true/false switches"))
        features = {}
    tenant["features"] = dict(sorted(features.items()))

    terms: list[TermsEntry] = []
    for i, entry in enumerate(_table_list(data, "terms", problems)):
        label = f"terms[{i}]"
        version = entry.get("version")
        if not isinstance(version, int) or version < 1:
            problems.append((f"{label}.version", "a whole number from 1"))
            continue
        body = _text_or_file(folder, entry, label, problems)
        published = entry.get("published_at")
        if isinstance(published, date) and not isinstance(published, datetime):
            published = datetime(published.year, published.month, published.day, tzinfo=UTC)
        if not isinstance(published, datetime):
            problems.append((f"{label}.published_at", "a date such as 2019-12-01"))
            continue
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        title = entry.get("title", "Conditions générales d'utilisation")
        terms.append(TermsEntry(version, str(title), body, published))
    if len({t.version for t in terms}) != len(terms):
        problems.append(("terms", "two entries have the same version"))
    if not terms and not problems:
        problems.append(("terms", "at least one CGU version is required"))

    news: list[NewsEntry] = []
    for i, entry in enumerate(_table_list(data, "news", problems)):
        label = f"news[{i}]"
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            problems.append((f"{label}.key", "required: a stable name for this news item"))
            continue
        published_on = entry.get("date")
        if not isinstance(published_on, date) or isinstance(published_on, datetime):
            problems.append((f"{label}.date", "a date such as 2019-12-12"))
            continue
        body = _text_or_file(folder, entry, label, problems)
        news.append(NewsEntry(key, published_on, str(entry.get("title", "")), body))
    if len({n.key for n in news}) != len(news):
        problems.append(("news", "two entries have the same key"))

    services: list[dict[str, str]] = []
    for i, entry in enumerate(_table_list(data, "services", problems)):
        code, name = entry.get("code"), entry.get("name")
        if not isinstance(code, str) or not _SERVICE_CODE.match(code):
            problems.append((f"services[{i}].code", "lowercase letters, digits and hyphens"))
            continue
        if not isinstance(name, str) or not name.strip():
            problems.append((f"services[{i}].name", "required"))
            continue
        services.append(
            {"code": code, "name": name.strip(), "description": str(entry.get("description", ""))}
        )

    pages: list[dict[str, str]] = []
    for i, entry in enumerate(_table_list(data, "pages", problems)):
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            problems.append((f"pages[{i}].key", "required, e.g. help.espace-personnel"))
            continue
        locale = entry.get("locale", "fr")
        if locale not in SUPPORTED_LOCALES:
            problems.append((f"pages[{i}].locale", f"one of {', '.join(SUPPORTED_LOCALES)}"))
            continue
        body = _text_or_file(folder, entry, f"pages[{i}]", problems)
        pages.append(
            {"key": key, "locale": locale, "title": str(entry.get("title", "")), "body": body}
        )

    access_keys: list[dict[str, str]] = []
    codes = {s["code"] for s in services}
    for i, entry in enumerate(_table_list(data, "access_keys", problems)):
        label = f"access_keys[{i}]"
        values = {
            k: str(entry.get(k, "")).strip()
            for k in ("service", "reference", "holder", "email", "key")
        }
        if "address" in entry:  # left out: the address typed on screen is kept
            values["address"] = clean_postal_address(str(entry["address"]))
            if problem := postal_address_problem(values["address"]):
                problems.append((f"{label}.address", problem))
        for required in ("service", "reference", "holder", "key"):
            if not values[required]:
                problems.append((f"{label}.{required}", "required"))
        if values["service"] and values["service"] not in codes:
            problems.append((f"{label}.service", f"no service with code {values['service']!r}"))
        if values["key"] and len(normalize_key(values["key"])) < 8:
            problems.append((f"{label}.key", "at least 8 letters or digits"))
        access_keys.append(values)
    if len({(k["service"], k["reference"]) for k in access_keys}) != len(access_keys):
        problems.append(("access_keys", "two entries have the same service and reference"))
    if len({normalize_key(k["key"]) for k in access_keys}) != len(access_keys):
        problems.append(("access_keys", "two entries have the same key"))

    ledgers: list[dict[str, Any]] = []
    for i, entry in enumerate(_table_list(data, "ledgers", problems)):
        label = f"ledgers[{i}]"
        allowed = {
            "code",
            "name",
            "service",
            "number_prefix",
            "merchant_label",
            "cheque_payee",
            "backend",
            "online_payment",
            "min_amount_cents",
            "max_amount_cents",
            "options_env",
        }
        for name in sorted(set(entry) - allowed):
            problems.append((f"{label}.{name}", "unknown field"))
        code = entry.get("code")
        if not isinstance(code, str) or not _SERVICE_CODE.match(code):
            problems.append((f"{label}.code", "lowercase letters, digits and hyphens"))
            continue
        if entry.get("service") not in codes:
            problems.append((f"{label}.service", "the code of a service of this file"))
            continue
        payee = entry.get("cheque_payee", "")
        if not isinstance(payee, str) or len(payee) > 200 or "\n" in payee:
            problems.append((f"{label}.cheque_payee", "one line of at most 200 characters"))
            continue
        if entry.get("backend", "sandbox") not in ("sandbox", "systempayv2", "paybox", "payfip_ws"):
            problems.append((f"{label}.backend", "sandbox, systempayv2, paybox or payfip_ws"))
            continue
        options_env = entry.get("options_env", "")
        if not isinstance(options_env, str) or (
            options_env and not re.fullmatch(r"[A-Z][A-Z0-9_]*", options_env)
        ):
            problems.append(
                (f"{label}.options_env", "the name of an environment variable (A-Z, 0-9, _)")
            )
            continue
        if entry.get("backend", "sandbox") not in ("sandbox",) and not options_env:
            problems.append(
                (f"{label}.options_env", "a bank backend needs its options from the environment")
            )
            continue
        options: dict[str, Any] | None = None
        if options_env and os.environ.get(options_env):
            try:
                options = json.loads(os.environ[options_env])
            except ValueError:
                options = None
            if not isinstance(options, dict):
                problems.append(
                    (
                        f"{label}.options_env",
                        f"{options_env} must hold the backend's options as a JSON object",
                    )
                )
                continue
        ledgers.append(
            {
                "code": code,
                "name": str(entry.get("name", code)),
                "service": entry["service"],
                "number_prefix": str(entry.get("number_prefix", "")),
                "merchant_label": str(entry.get("merchant_label", "")),
                "cheque_payee": payee,
                "backend": entry.get("backend", "sandbox"),
                "online_payment": bool(entry.get("online_payment", True)),
                "min_amount_cents": int(entry.get("min_amount_cents", 100)),
                "max_amount_cents": int(entry.get("max_amount_cents", 1_000_000)),
                "options_env": options_env,
                "options": options,
                # what an agent set on screen and the file leaves out is kept at the next apply
                "stated": frozenset(entry) & allowed,
            }
        )

    procedures = parse_procedures(_table_list(data, "procedures", problems), problems)

    if problems:
        raise CatalogError(path, problems)
    digest = hashlib.sha256(raw_bytes + (logo or b"")).hexdigest()
    return TenantCatalog(
        folder,
        tenant,
        logo,
        logo_suffix,
        terms,
        news,
        services,
        pages,
        digest,
        access_keys,
        ledgers,
        procedures,
        left_out=_left_out(data),
    )


def _table_list(data: dict[str, Any], key: str, problems: list[tuple[str, str]]) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or any(not isinstance(v, dict) for v in value):
        problems.append((key, f"expected [[{key}]] tables"))
        return []
    return value


def _inside(folder: Path, name: Any, label: str, problems: list[tuple[str, str]]) -> Path | None:
    if not isinstance(name, str) or not name:
        problems.append((label, "expected a file name"))
        return None
    candidate = (folder / name).resolve()
    if folder.resolve() not in candidate.parents:
        problems.append((label, "the file must be inside the tenant's folder"))
        return None
    return candidate


def _text_or_file(
    folder: Path, entry: dict[str, Any], label: str, problems: list[tuple[str, str]]
) -> str:
    if "file" in entry:
        target = _inside(folder, entry["file"], f"{label}.file", problems)
        if target is None:
            return ""
        if not target.is_file():
            problems.append((f"{label}.file", f"{entry['file']} not found"))
            return ""
        return target.read_text(encoding="utf-8")
    body = entry.get("body")
    if not isinstance(body, str) or not body.strip():
        problems.append((f"{label}.body", 'required (or file = "...")'))
        return ""
    return body


MAX_LOGO_SIDE = 4000  # pixels: a logo shown 60 px high needs a few hundred at most


def raster_logo_check(data: bytes) -> str:
    """ "" when a PNG or JPEG logo can be used, "unreadable" when it cannot be read as an image,
    "too_large" when it has more than MAX_LOGO_SIDE pixels a side (small on disk, such a file
    is drawn 0×0 by WeasyPrint and slows every page): its header is read, never its pixels."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return "too_large" if max(image.size) > MAX_LOGO_SIDE else ""
    except Image.DecompressionBombError:
        return "too_large"
    except (UnidentifiedImageError, OSError, ValueError):
        return "unreadable"


def raster_logo_problem(data: bytes) -> str | None:
    """Why a PNG or JPEG logo cannot be used, in English for ``tenants apply``."""
    return {
        "unreadable": "the image cannot be read",
        "too_large": f"too many pixels: at most {MAX_LOGO_SIDE} pixels a side",
    }.get(raster_logo_check(data))


def _svg_is_active(svg: bytes) -> bool:
    lowered = svg.lower()
    return any(
        marker in lowered
        for marker in (
            b"<script",
            b" on",
            b"\ton",
            b"\non",
            b"javascript:",
            b"<foreignobject",
            b'xlink:href="http',
            b'href="http',
            b"<!entity",
            b"<iframe",
        )
    )


async def apply_catalog(
    session: AsyncSession, catalog: TenantCatalog, files: FileStore, secret_key: str = ""
) -> list[str]:
    """Create or update the tenant of ``catalog``; returns what changed (empty: nothing)."""
    changes: list[str] = []
    values = dict(catalog.tenant)
    slug = values["slug"]
    tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
    if catalog.logo is not None:
        logo_hash = hashlib.sha256(catalog.logo).hexdigest()
        key = f"tenants/{slug}/logo-{logo_hash[:16]}{catalog.logo_suffix}"
        if not files.exists(key):
            files.put(key, catalog.logo)
        values.update(
            logo_file=key, logo_hash=logo_hash, logo_media_type=LOGO_TYPES[catalog.logo_suffix]
        )
    else:
        values.update(logo_file="", logo_hash="", logo_media_type="")
    values["kind"] = TenantKind(values["kind"])
    values["status"] = TenantStatus(values["status"])
    # Records the back-office also edits (services, files) follow the file only when the file
    # changed since it was last applied, as the tenant's own fields do.
    file_changed = tenant is None or tenant.catalog_digest != catalog.digest
    if tenant is None:
        tenant = Tenant(**values, catalog_digest=catalog.digest)
        session.add(tenant)
        await session.flush()
        changes.append(f"tenant {slug}: created")
    elif tenant.catalog_digest != catalog.digest:
        # The file changed since it was last applied: the fields it states win; those it leaves
        # out keep their values. An unchanged file leaves the tenant's own fields alone, so what
        # administrators set on screen (branding, contact block…) survives a restart that
        # applies the same file again.
        for name, value in values.items():
            if name in catalog.left_out:
                continue
            if getattr(tenant, name) != value:
                setattr(tenant, name, value)
                changes.append(f"tenant {slug}: {name} changed")
        tenant.catalog_digest = catalog.digest
    tid = tenant.id

    existing_terms = {
        t.version: t
        for t in (
            await session.execute(select(TermsVersion).where(TermsVersion.tenant_id == tid))
        ).scalars()
    }
    for entry in catalog.terms:
        current = existing_terms.get(entry.version)
        if current is None:
            session.add(
                TermsVersion(
                    tenant_id=tid,
                    version=entry.version,
                    title=entry.title,
                    body=entry.body,
                    published_at=entry.published_at,
                )
            )
            changes.append(f"CGU version {entry.version}: published")
        elif current.body != entry.body or current.title != entry.title:
            raise CatalogError(
                catalog.folder / "tenant.toml",
                [
                    (
                        f"terms (version {entry.version})",
                        "this version is already published with another text; published CGU are "
                        "never rewritten: add a new version with a higher number",
                    )
                ],
            )

    existing_news = {
        n.key: n
        for n in (
            await session.execute(select(NewsItem).where(NewsItem.tenant_id == tid))
        ).scalars()
    }
    for item in catalog.news:
        news = existing_news.get(item.key)
        if news is None:
            session.add(
                NewsItem(
                    tenant_id=tid,
                    key=item.key,
                    published_on=item.published_on,
                    title=item.title,
                    body=item.body,
                )
            )
            changes.append(f"news {item.key}: added")
        elif (news.published_on, news.title, news.body) != (
            item.published_on,
            item.title,
            item.body,
        ):
            news.published_on, news.title, news.body = item.published_on, item.title, item.body
            changes.append(f"news {item.key}: updated")

    existing_services = {
        s.code: s
        for s in (await session.execute(select(Service).where(Service.tenant_id == tid))).scalars()
    }
    for svc in catalog.services:
        service = existing_services.get(svc["code"])
        if service is None:
            session.add(Service(tenant_id=tid, **svc))
            changes.append(f"service {svc['code']}: added")
        elif file_changed and (service.name, service.description) != (
            svc["name"],
            svc["description"],
        ):
            service.name, service.description = svc["name"], svc["description"]
            changes.append(f"service {svc['code']}: updated")

    existing_pages = {
        (p.key, p.locale): p
        for p in (
            await session.execute(select(ContentPage).where(ContentPage.tenant_id == tid))
        ).scalars()
    }
    for page_entry in catalog.pages:
        page = existing_pages.get((page_entry["key"], page_entry["locale"]))
        if page is None:
            session.add(ContentPage(tenant_id=tid, **page_entry))
            changes.append(f"page {page_entry['key']} ({page_entry['locale']}): added")
        elif (page.title, page.body) != (page_entry["title"], page_entry["body"]):
            page.title, page.body = page_entry["title"], page_entry["body"]
            changes.append(f"page {page_entry['key']} ({page_entry['locale']}): updated")

    await session.flush()
    if catalog.ledgers:
        from guichet.billing.models import Ledger

        service_ids = {
            s.code: s.id
            for s in (
                await session.execute(select(Service).where(Service.tenant_id == tid))
            ).scalars()
        }
        existing_ledgers = {
            ledger.code: ledger
            for ledger in (
                await session.execute(select(Ledger).where(Ledger.tenant_id == tid))
            ).scalars()
        }
        for spec in catalog.ledgers:
            values = {
                k: v
                for k, v in spec.items()
                if k not in ("service", "options_env", "options", "stated")
            }
            values["service_id"] = service_ids[spec["service"]]
            ledger = existing_ledgers.get(spec["code"])
            if ledger is not None:
                # What an agent set in Facturation stays: a field the file leaves out, and any
                # field while the file is the one applied last (`make run` applies it each time).
                # The bank's options (below) follow the environment either way.
                values = {
                    k: v
                    for k, v in values.items()
                    if file_changed and (k in spec["stated"] or k == "service_id")
                }
            if spec["options"] is not None:
                values["backend_options"] = encrypt_options(secret_key, spec["options"])
            elif spec["backend"] != "sandbox" and (ledger is None or not ledger.backend_options):
                raise CatalogError(
                    catalog.folder / "tenant.toml",
                    [
                        (
                            f"ledgers ({spec['code']}).options_env",
                            f"{spec['options_env']} is not set: the bank's options are needed "
                            "the first time",
                        )
                    ],
                )
            # An unset variable keeps the stored options: publishing a news item does not
            # need the bank's secrets in the environment.
            if ledger is None:
                session.add(Ledger(tenant_id=tid, **values))
                changes.append(f"ledger {spec['code']}: added")
            else:
                changed = [
                    k
                    for k, v in values.items()
                    if getattr(ledger, k) != v and k != "backend_options"
                ]
                if "backend_options" in values and _options_differ(
                    ledger.backend_options, values["backend_options"], secret_key
                ):
                    changed.append("backend_options")
                elif "backend_options" in values:
                    values.pop("backend_options")
                for name in changed:
                    setattr(ledger, name, values[name])
                if changed:
                    changes.append(f"ledger {spec['code']}: {', '.join(changed)} changed")
        await session.flush()
    if catalog.procedures:
        changes += await apply_procedures(session, tid, catalog.procedures)
        await session.flush()
    if catalog.access_keys:
        if not secret_key:
            raise ValueError("applying access keys needs the deployment's secret key")
        services_by_code = {
            s.code: s
            for s in (
                await session.execute(select(Service).where(Service.tenant_id == tid))
            ).scalars()
        }
        existing_accounts = {
            (a.service_id, a.reference): a
            for a in (
                await session.execute(select(ServiceAccount).where(ServiceAccount.tenant_id == tid))
            ).scalars()
        }
        for key_entry in catalog.access_keys:
            service = services_by_code[key_entry["service"]]
            digest = key_digest(secret_key, str(tid), key_entry["key"])
            account = existing_accounts.get((service.id, key_entry["reference"]))
            if account is None:
                session.add(
                    ServiceAccount(
                        tenant_id=tid,
                        service_id=service.id,
                        reference=key_entry["reference"],
                        holder_name=key_entry["holder"],
                        email=key_entry["email"],
                        postal_address=key_entry.get("address", ""),
                        key_digest=digest,
                    )
                )
                changes.append(f"access key {key_entry['service']}/{key_entry['reference']}: added")
            elif (account.key_digest != digest) or (
                file_changed
                and (account.holder_name, account.email, account.postal_address)
                != (
                    key_entry["holder"],
                    key_entry["email"],
                    key_entry.get("address", account.postal_address),
                )
            ):
                # the key follows the file (and the secret key) always; the holder, email and
                # address only when the file changed: otherwise they are the back-office's
                if file_changed:
                    account.holder_name, account.email = key_entry["holder"], key_entry["email"]
                    account.postal_address = key_entry.get("address", account.postal_address)
                account.key_digest = digest
                changes.append(
                    f"access key {key_entry['service']}/{key_entry['reference']}: updated"
                )
        await session.flush()
    return changes


def _options_differ(current: str, new: str, secret_key: str) -> bool:
    try:
        return decrypt_options(secret_key, current) != decrypt_options(secret_key, new)
    except ValueError:
        return True
