"""The process-wide services that ``create_app`` builds once and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.stores.base import NamespacedStore

from guichet.db.session import Database
from guichet.files import FileStore
from guichet.settings import Settings
from guichet.tenancy.resolver import TenantResolver
from guichet.web.templates import TemplateRenderer

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    db: Database
    store: NamespacedStore
    files: FileStore
    resolver: TenantResolver
    renderer: TemplateRenderer
