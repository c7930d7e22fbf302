"""The key-value store of sessions, captchas, rate limits and caches.

Redis in production; a file store under ``var/store`` in the embedded default, so that the web
process and the worker of ``make run`` share it without a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from litestar.stores.base import NamespacedStore, Store
from litestar.stores.file import FileStore
from litestar.stores.redis import RedisStore

from guichet.settings import Settings

__all__ = ["close_store", "create_store", "get_together"]


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


async def get_together(*wanted: tuple[Store, str]) -> list[bytes | None]:
    """The values of several ``(store, key)``, in one round trip (MGET) when every store is a
    namespace of the same Redis client, else one after the other."""
    redis = [store for store, _ in wanted if isinstance(store, RedisStore)]
    if len(redis) == len(wanted) and all(store._redis is redis[0]._redis for store in redis):
        keys = [store._make_key(key) for store, (_, key) in zip(redis, wanted, strict=True)]
        # bytes, as RedisStore.get gives them (its client does not decode)
        return cast("list[bytes | None]", await redis[0]._redis.mget(keys))
    return [await store.get(key) for store, key in wanted]


async def close_store(store: NamespacedStore) -> None:
    """Release the store's connections (Redis); a no-op for the file store."""
    await store.__aexit__(None, None, None)
