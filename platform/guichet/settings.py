"""Typed settings read from ``GUICHET_*`` environment variables, grouped by concern.

Read once by :func:`Settings.from_env` and passed to ``create_app``; nothing reads the environment
at import time. Every field documents the variable that sets it (``docs/configuration.md`` is
generated from these docstrings by ``guichet settings-doc``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEFAULT_SECRET_KEY",
    "ConfigurationError",
    "DatabaseSettings",
    "EmailSettings",
    "FilesSettings",
    "Settings",
    "StoreSettings",
    "WebSettings",
    "WorkerSettings",
]

DEFAULT_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105 (refused in production)


class ConfigurationError(Exception):
    """Settings that cannot work; the message says which variable and why."""


def _root_default() -> Path:
    env = os.environ.get("GUICHET_ROOT")
    if env:
        return Path(env).resolve()
    # platform/guichet/settings.py -> repository root
    return Path(__file__).resolve().parents[2]


def env_field(env: str, default: Any, doc: str) -> Any:
    """A settings field with the environment variable that sets it and its one-line doc."""
    if isinstance(default, list | dict):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"env": env, "doc": doc})
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the data lives."""

    url: str = env_field(
        "GUICHET_DATABASE_URL",
        "",
        "SQLAlchemy async URL. Empty: SQLite file var/guichet.db (embedded default). "
        "Production: postgresql+asyncpg://user:password@host/db",
    )
    echo: bool = env_field("GUICHET_DATABASE_ECHO", False, "Log every SQL statement (debugging).")
    pool_size: int = env_field("GUICHET_DATABASE_POOL_SIZE", 10, "Connections kept per process.")
    rls: bool = env_field(
        "GUICHET_DATABASE_RLS",
        True,
        "Set the tenant of each transaction for PostgreSQL row-level security policies.",
    )


@dataclass(frozen=True)
class StoreSettings:
    """Sessions, captcha state, rate limits and caches."""

    redis_url: str = env_field(
        "GUICHET_REDIS_URL",
        "",
        "Redis URL (redis://host:6379/0). Empty: a file store under var/store (embedded default).",
    )
    namespace: str = env_field(
        "GUICHET_STORE_NAMESPACE", "guichet", "Prefix of every key this deployment writes."
    )


@dataclass(frozen=True)
class WorkerSettings:
    """Background work (Celery)."""

    broker_url: str = env_field(
        "GUICHET_BROKER_URL",
        "",
        "Celery broker URL. Empty: kombu's filesystem transport under var/broker "
        "(embedded default, no server). Production: redis://host:6379/1",
    )
    eager: bool = env_field(
        "GUICHET_WORKER_EAGER", False, "Run tasks in the calling process (tests only)."
    )
    visibility_timeout: int = env_field(
        "GUICHET_BROKER_VISIBILITY_TIMEOUT",
        3600,
        "Seconds after which a task taken by a worker that died (killed, node lost) without "
        "acknowledging it is given to another worker (Redis broker). Longer than the longest "
        "task: a billing run's batch is acknowledged when done.",
    )
    metrics_port: int = env_field(
        "GUICHET_WORKER_METRICS_PORT",
        0,
        "Port of the worker's Prometheus endpoint (0: none). It asks for GUICHET_METRICS_TOKEN "
        "like the web's /metrics; set PROMETHEUS_MULTIPROC_DIR so that every pool process counts.",
    )


@dataclass(frozen=True)
class EmailSettings:
    """Outgoing email."""

    smtp_host: str = env_field(
        "GUICHET_SMTP_HOST", "", "SMTP relay host. Empty: write .eml files to var/outbox/."
    )
    smtp_port: int = env_field("GUICHET_SMTP_PORT", 587, "SMTP relay port.")
    smtp_user: str = env_field("GUICHET_SMTP_USER", "", "SMTP user name, if the relay needs one.")
    smtp_password: str = env_field("GUICHET_SMTP_PASSWORD", "", "SMTP password.")
    smtp_starttls: bool = env_field("GUICHET_SMTP_STARTTLS", True, "Use STARTTLS with the relay.")
    sender: str = env_field(
        "GUICHET_SMTP_FROM", "Guichet <no-reply@localhost>", "Envelope and From address."
    )


@dataclass(frozen=True)
class FilesSettings:
    """Stored files: documents, PDFs, logos."""

    backend: Literal["local", "s3"] = env_field(
        "GUICHET_FILES_BACKEND", "local", "local (a folder) or s3 (an S3-compatible bucket)."
    )
    directory: str = env_field(
        "GUICHET_FILES_DIR", "", "Folder of the local backend. Empty: var/files/."
    )
    s3_endpoint_url: str = env_field("GUICHET_S3_ENDPOINT_URL", "", "S3 endpoint URL.")
    s3_bucket: str = env_field("GUICHET_S3_BUCKET", "", "S3 bucket name.")
    s3_access_key: str = env_field("GUICHET_S3_ACCESS_KEY", "", "S3 access key.")
    s3_secret_key: str = env_field("GUICHET_S3_SECRET_KEY", "", "S3 secret key.")
    s3_region: str = env_field("GUICHET_S3_REGION", "us-east-1", "S3 region")


@dataclass(frozen=True)
class WebSettings:
    """The HTTP side."""

    public_url: str = env_field(
        "GUICHET_PUBLIC_URL",
        "http://127.0.0.1:8000",
        "Base URL used in emails and redirects (unset: guichet run uses its --host/--port).",
    )
    secret_key: str = env_field(
        "GUICHET_SECRET_KEY",
        DEFAULT_SECRET_KEY,
        "Signs CSRF tokens and derives encryption keys. Must be set in production.",
    )
    previous_secret_keys: str = env_field(
        "GUICHET_PREVIOUS_SECRET_KEYS",
        "",
        "Earlier values of GUICHET_SECRET_KEY, comma-separated, kept during a rotation: what "
        "they encrypted stays readable until `guichet secrets reencrypt` has run, and access "
        "keys they keyed still open (and move to the new key) when used.",
    )
    trusted_proxies: str = env_field(
        "GUICHET_TRUSTED_PROXIES",
        "",
        "Comma-separated proxy addresses whose X-Forwarded-For/Proto headers are trusted.",
    )
    metrics_token: str = env_field(
        "GUICHET_METRICS_TOKEN",
        "",
        "Bearer token that Prometheus sends to GET /metrics (empty: no metrics endpoint).",
    )
    log_level: str = env_field("GUICHET_LOG_LEVEL", "INFO", "Log level of the JSON logs.")
    log_json: bool = env_field("GUICHET_LOG_JSON", True, "Write logs as JSON lines.")
    captcha_test_mode: bool = env_field(
        "GUICHET_CAPTCHA_TEST_MODE",
        False,
        "Deterministic captcha for automated tests (always the first image, audio code 1234). "
        "Refused in production.",
    )
    paybox_allowed_ips: str = env_field(
        "GUICHET_PAYBOX_ALLOWED_IPS",
        "",
        "Comma-separated addresses or networks from which Paybox notifications are accepted "
        "(empty: any; the signature is checked in every case). Behind a reverse proxy, set "
        "GUICHET_TRUSTED_PROXIES too, or the proxy's address is what is compared.",
    )

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The secret key, then the previous ones of a rotation (for reading, never writing)."""
        previous = [k.strip() for k in self.previous_secret_keys.split(",") if k.strip()]
        return (self.secret_key, *previous)

    def paybox_networks(self) -> list[Any]:
        """The networks of ``paybox_allowed_ips`` (ValueError names a bad entry)."""
        import ipaddress

        networks = []
        for entry in self.paybox_allowed_ips.split(","):
            if entry.strip():
                try:
                    networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"{entry.strip()!r} is not an address or network") from None
        return networks

    logins_per_ip_per_hour: int = env_field(
        "GUICHET_LOGINS_PER_IP_PER_HOUR",
        100,
        "Sign-in attempts from one address to one tenant per hour before waiting (every attempt "
        "counts, right or wrong: room for a CCAS office's shared computer).",
    )
    signups_per_ip_per_hour: int = env_field(
        "GUICHET_SIGNUPS_PER_IP_PER_HOUR",
        50,
        "Accounts one address may create per hour before waiting (a CCAS office helping many "
        "people shares one address).",
    )
    tenant_cache_seconds: int = env_field(
        "GUICHET_TENANT_CACHE_SECONDS",
        300,
        "How long a resolved tenant stays cached in a process (changes invalidate it at once).",
    )


@dataclass(frozen=True)
class Settings:
    """All settings. ``mode`` chooses between the embedded default and production."""

    mode: Literal["development", "production", "test"] = env_field(
        "GUICHET_MODE",
        "development",
        "development (embedded default), production (refuses insecure defaults) or test.",
    )
    root: Path = env_field(
        "GUICHET_ROOT", None, "Folder holding themes/, tenants/ and migrations/."
    )
    var_dir: Path = env_field(
        "GUICHET_VAR_DIR", None, "Folder for the embedded default's data. Default: <root>/var."
    )
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    web: WebSettings = field(default_factory=WebSettings)

    def __post_init__(self) -> None:
        root = Path(self.root).resolve() if self.root else _root_default()
        object.__setattr__(self, "root", root)
        var_dir = Path(self.var_dir) if self.var_dir else root / "var"
        object.__setattr__(self, "var_dir", var_dir.resolve())

    # -- derived values ---------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.var_dir / 'guichet.db'}"

    @property
    def broker_url(self) -> str:
        return self.worker.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return self.var_dir / "broker"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def files_dir(self) -> Path:
        return Path(self.files.directory) if self.files.directory else self.var_dir / "files"

    @property
    def store_dir(self) -> Path:
        return self.var_dir / "store"

    @property
    def themes_dir(self) -> Path:
        return self.root / "themes"

    @property
    def tenants_dir(self) -> Path:
        return self.root / "tenants"

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from ``environ`` (default ``os.environ``) and explicit overrides."""
        env = os.environ if environ is None else environ
        groups: dict[str, Any] = {}
        top: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            factory: Any = f.default_factory
            if isinstance(factory, type) and dataclasses.is_dataclass(factory):
                groups[f.name] = factory(**_read_fields(factory, env))
            elif "env" in f.metadata and f.metadata["env"] in env:
                top[f.name] = _coerce(f, env[f.metadata["env"]])
        settings = cls(**top, **groups)
        if overrides:
            settings = dataclasses.replace(settings, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, saying which variable and why."""
        if self.mode not in ("development", "production", "test"):
            raise ConfigurationError(
                f"GUICHET_MODE={self.mode!r}: expected development, production or test."
            )
        try:
            self.web.paybox_networks()
        except ValueError as exc:
            raise ConfigurationError(
                f"GUICHET_PAYBOX_ALLOWED_IPS: {exc} (addresses or networks such as "
                "194.2.122.158 or 195.25.67.0/24, separated by commas)."
            ) from None
        if not self.is_production:
            return
        problems = []
        if self.web.secret_key == DEFAULT_SECRET_KEY or len(self.web.secret_key) < 32:
            problems.append(
                "GUICHET_SECRET_KEY is the development default or shorter than 32 characters: "
                "set a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if not self.database.url or self.database.url.startswith("sqlite"):
            problems.append(
                "GUICHET_DATABASE_URL is empty or SQLite: production needs PostgreSQL "
                "(postgresql+asyncpg://...)."
            )
        if not self.store.redis_url:
            problems.append(
                "GUICHET_REDIS_URL is empty: production keeps sessions, captchas and rate limits "
                "in Redis, never in a process or a local file."
            )
        if not self.worker.broker_url or self.worker.broker_url.startswith("filesystem"):
            problems.append(
                "GUICHET_BROKER_URL is empty or the filesystem transport: production needs Redis "
                "(redis://...)."
            )
        if self.web.captcha_test_mode:
            problems.append(
                "GUICHET_CAPTCHA_TEST_MODE is on: the deterministic captcha exists for automated "
                "tests only."
            )
        if not self.email.smtp_host:
            problems.append("GUICHET_SMTP_HOST is empty: production sends email through a relay.")
        if problems:
            raise ConfigurationError(
                "Guichet refuses to start in production mode:\n- " + "\n- ".join(problems)
            )


def _read_fields(group_cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(group_cls):
        name = f.metadata.get("env")
        if name and name in env:
            values[f.name] = _coerce(f, env[name])
    return values


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{f.metadata['env']}={raw!r}: expected true or false.")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{f.metadata['env']}={raw!r}: expected a whole number."
            ) from None
    if kind == "Path":
        return Path(raw)
    return raw


def settings_documentation() -> str:
    """Markdown table of every variable, from the field metadata (docs/configuration.md)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        if callable(f.default_factory) and dataclasses.is_dataclass(f.default_factory):
            lines.append(f"| **{f.name}** | | {(f.default_factory.__doc__ or '').strip()} |")
            for g in dataclasses.fields(f.default_factory):
                default = g.default if g.default is not dataclasses.MISSING else ""
                if "password" in g.name or "secret" in g.name:
                    default = "(secret)" if default else ""
                lines.append(f"| `{g.metadata['env']}` | `{default}` | {g.metadata['doc']} |")
        elif "env" in f.metadata:
            default = f.default if f.default is not dataclasses.MISSING else ""
            lines.append(f"| `{f.metadata['env']}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"
