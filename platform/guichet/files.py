"""Stored files behind one interface: a local folder (embedded default).

Keys are relative paths chosen by the platform (never by users). An S3-compatible backend joins
this interface with the document store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from guichet.settings import Settings

__all__ = ["FileStore", "LocalFileStore", "create_file_store"]


class FileStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def check(self) -> None: ...


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"file key outside the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        """Raise when the store cannot be written (readiness probe)."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".readyz"
        probe.write_bytes(b"ok")
        probe.unlink()


def create_file_store(settings: Settings) -> FileStore:
    if settings.files.backend == "local":
        return LocalFileStore(settings.files_dir)
    raise NotImplementedError(
        "GUICHET_FILES_BACKEND=s3 arrives with the document store (issue 4); use local for now"
    )
