"""Stored files behind one interface: a local folder (embedded default) or an S3-compatible bucket.

Keys are relative paths chosen by the platform (never by users), such as
``tenants/<uuid>/photos/<hex>.jpg``. Both backends refuse keys that could leave the store (``..``,
a leading ``/``, backslashes, NUL, empty segments) with :class:`ValueError`, and raise
:class:`FileNotFoundError` for a missing file in :meth:`~FileStore.get` and
:meth:`~FileStore.size`.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from guichet.settings import ConfigurationError, Settings

__all__ = [
    "FileStore",
    "FileStoreConfigurationError",
    "LocalFileStore",
    "S3FileStore",
    "check_key",
    "create_file_store",
    "delete_folder",
    "delete_keys",
]

log = logging.getLogger("guichet.files")


class FileStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int: ...
    def get(self, key: str) -> bytes: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]: ...
    def check(self) -> None: ...


class FileStoreConfigurationError(ConfigurationError, ValueError):
    """The file store settings cannot work; the message names the variable."""


def data_uri(media_type: str, data: bytes) -> str:
    """``data`` inlined in a page or a PDF (a logo): nothing to fetch."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe relative path, else raise :class:`ValueError`."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"file key must be a non-empty string: {key!r}")
    if ".." in key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"file key refused: {key!r}")
    if any(part in ("", ".") for part in key.split("/")):
        raise ValueError(f"file key has an empty or '.' segment: {key!r}")
    return key


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        check_key(key)
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"file key outside the store: {key!r}")
        return path

    def _write(self, path: Path, chunks: Iterable[bytes]) -> int:
        """Write to a temporary file next to ``path``, then rename it (readers never see half)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        total = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    total += len(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return total

    def put(self, key: str, data: bytes) -> None:
        self._write(self._path(key), (data,))

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the bytes of ``chunks``; return the total size."""
        return self._write(self._path(key), chunks)

    def _file(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no stored file {key!r}")
        return path

    def get(self, key: str) -> bytes:
        return self._file(key).read_bytes()

    def size(self, key: str) -> int:
        return self._file(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every stored file under the folder ``prefix`` (``tenants/<uuid>/billing/``), with
        the time it was last written, in no particular order. A write cut short by a crash
        shows as a ``.tmp-`` file beside its key."""
        base = prefix.rstrip("/")
        folder = self._path(base)
        # keys from the folder as named, not as resolved: a linked folder keeps its keys
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(dirpath, name)
                try:
                    written = path.stat().st_mtime
                except FileNotFoundError:  # deleted meanwhile
                    continue
                key = f"{base}/{path.relative_to(folder).as_posix()}"
                yield key, datetime.fromtimestamp(written, UTC)

    def check(self) -> None:
        """Raise when the store cannot be written (readiness probe)."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".readyz"
        probe.write_bytes(b"ok")
        probe.unlink()


_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_CONTENT_TYPE = "application/octet-stream"


def _not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND


def _client_config() -> Config:
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 30,
        "retries": {"mode": "standard", "max_attempts": 3},
        "signature_version": "s3v4",
        # Path-style URLs work with every S3-compatible server (MinIO, Garage, Ceph, OVH...).
        "s3": {"addressing_style": "path"},
    }
    # botocore >= 1.36 adds CRC checksums to every upload, which several S3-compatible servers
    # refuse: only send them when the operation requires one.
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    return Config(**options)


class S3FileStore:
    """Files in an S3-compatible bucket, optionally under ``prefix``; objects stay private."""

    #: ``put_stream`` joins the chunks below this size, else uploads parts (multipart upload).
    multipart_threshold = 16 * 1024 * 1024
    #: Size of each part of a multipart upload (S3 needs at least 5 MiB but for the last one).
    part_size = 8 * 1024 * 1024
    #: Keys per answer of :meth:`listing` (S3's own maximum).
    list_page_size = 1000

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str,
        prefix: str = "",
    ) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        session = boto3.session.Session()
        # A client (unlike a session) is thread-safe: the web app calls it from worker threads.
        self.client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            config=_client_config(),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=bytes(data), ContentType=_CONTENT_TYPE
        )

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the bytes of ``chunks``; return the total size.

        Below :attr:`multipart_threshold` the chunks are joined and sent at once; above, they go
        as a multipart upload of :attr:`part_size` parts, aborted if anything fails.
        """
        object_key = self._key(key)
        buffer = bytearray()
        total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        def send_part(data: bytes) -> None:
            number = len(parts) + 1
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
            )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})

        try:
            for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                if upload_id is None and len(buffer) >= self.multipart_threshold:
                    upload_id = self.client.create_multipart_upload(
                        Bucket=self.bucket, Key=object_key, ContentType=_CONTENT_TYPE
                    )["UploadId"]
                if upload_id is not None:
                    while len(buffer) >= self.part_size:
                        send_part(bytes(buffer[: self.part_size]))
                        del buffer[: self.part_size]
            if upload_id is None:
                self.put(key, bytes(buffer))
                return total
            if buffer or not parts:
                send_part(bytes(buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=upload_id
                    )
                except ClientError:
                    pass  # the original error matters more; a lifecycle rule cleans up
            raise
        return total

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _not_found(exc):
                raise FileNotFoundError(f"no stored file {key!r}") from None
            raise
        body = answer["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return answer

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(f"no stored file {key!r}")
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too: deleting twice is fine.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every object under the folder ``prefix``, with the time it was last written
        (pages of 1,000 keys, fetched as they are read)."""
        folder = self._key(prefix.rstrip("/")) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, PaginationConfig={"PageSize": self.list_page_size}
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"][len(self.prefix) :], item["LastModified"]

    def check(self) -> None:
        """Raise when the bucket cannot be reached or written (readiness probe)."""
        self.client.head_bucket(Bucket=self.bucket)
        probe = self.prefix + ".readyz"
        self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok", ContentType=_CONTENT_TYPE)
        self.client.delete_object(Bucket=self.bucket, Key=probe)


def delete_keys(files: FileStore, keys: Iterable[str]) -> int:
    """Delete each key once its rows are gone; a key that cannot be deleted is logged and
    skipped (the rows are gone already: stopping would leave the others). Returns how many."""
    deleted = 0
    for key in sorted(set(keys)):
        try:
            files.delete(key)
        except Exception:
            log.exception("cannot delete stored file %s", key)
        else:
            deleted += 1
    return deleted


def delete_folder(files: FileStore, folder: str, only: re.Pattern[str] | None = None) -> int:
    """Delete every file under ``folder`` (those whose name inside it ``only`` matches, when
    given): what a stop left there with no row naming it, once its owner is erased. A folder
    that cannot be listed is logged and skipped. Returns how many were deleted."""
    folder = folder.rstrip("/") + "/"
    try:
        listed = [key for key, _written in files.listing(folder)]
    except Exception:
        log.exception("cannot list stored files under %s", folder)
        return 0
    return delete_keys(
        files, [key for key in listed if only is None or only.fullmatch(key[len(folder) :])]
    )


def create_file_store(settings: Settings) -> FileStore:
    files = settings.files
    if files.backend == "local":
        return LocalFileStore(settings.files_dir)
    if files.backend == "s3":
        missing = [
            name
            for name, value in (
                ("GUICHET_S3_ENDPOINT_URL", files.s3_endpoint_url),
                ("GUICHET_S3_BUCKET", files.s3_bucket),
            )
            if not value.strip()
        ]
        if missing:
            raise FileStoreConfigurationError(
                f"GUICHET_FILES_BACKEND=s3 needs {' and '.join(missing)}: set "
                f"{'them' if len(missing) > 1 else 'it'} to the S3-compatible endpoint and bucket."
            )
        return S3FileStore(
            endpoint_url=files.s3_endpoint_url.strip(),
            bucket=files.s3_bucket.strip(),
            access_key=files.s3_access_key,
            secret_key=files.s3_secret_key,
            region=files.s3_region,
        )
    raise FileStoreConfigurationError(
        f"GUICHET_FILES_BACKEND={files.backend!r}: expected local or s3."
    )
