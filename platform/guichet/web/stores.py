"""The key-value store of sessions, captchas, rate limits and caches.

Redis in production; a file store under ``var/store`` in the embedded default, so that the web
process and the worker of ``make run`` share it without a server.
"""

from __future__ import annotations

from pathlib import Path

from litestar.stores.base import NamespacedStore
from litestar.stores.file import FileStore
from litestar.stores.redis import RedisStore

from guichet.settings import Settings

__all__ = ["close_store", "create_store"]


class _FolderStore(FileStore):
    """litestar's FileStore whose namespaces are folders created up front."""

    def with_namespace(self, namespace: str) -> _FolderStore:
        if not namespace.isalnum():
            raise ValueError(f"Invalid namespace: {namespace!r}")
        folder = Path(str(self.path)) / namespace
        folder.mkdir(parents=True, exist_ok=True)
        return _FolderStore(folder)


def create_store(settings: Settings) -> NamespacedStore:
    if settings.store.redis_url:
        return RedisStore.with_client(
            url=settings.store.redis_url, namespace=settings.store.namespace
        )
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return _FolderStore(settings.store_dir).with_namespace(settings.store.namespace)


async def close_store(store: NamespacedStore) -> None:
    """Release the store's connections (Redis); a no-op for the file store."""
    await store.__aexit__(None, None, None)
