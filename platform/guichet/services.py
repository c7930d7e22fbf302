"""The process-wide services that ``create_app`` builds once and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar.stores.base import NamespacedStore

from guichet.db.session import Database
from guichet.files import FileStore, create_file_store
from guichet.settings import Settings
from guichet.tenancy.resolver import TenantResolver
from guichet.web.stores import create_store
from guichet.web.templates import TemplateRenderer

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    settings: Settings
    db: Database
    store: NamespacedStore
    files: FileStore
    resolver: TenantResolver
    renderer: TemplateRenderer
    _namespaces: dict[str, NamespacedStore] = field(default_factory=dict, repr=False)

    def namespace(self, name: str) -> NamespacedStore:
        """The store's namespace ``name`` (sessions, ratelimit, captcha…), made once per process:
        making three of them on every page was about 3 % of its CPU (bench/README.md)."""
        store = self._namespaces.get(name)
        if store is None:
            store = self._namespaces[name] = self.store.with_namespace(name)
        return store


def build_services(settings: Settings) -> Services:
    """The services of one process (web, worker or command), built from its settings."""
    db = Database(settings)
    store = create_store(settings)
    return Services(
        settings=settings,
        db=db,
        store=store,
        files=create_file_store(settings),
        resolver=TenantResolver(
            db, store.with_namespace("tenancy"), max_age=settings.web.tenant_cache_seconds
        ),
        renderer=TemplateRenderer(settings.themes_dir, auto_reload=settings.mode == "development"),
    )
