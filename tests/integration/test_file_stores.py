"""File stores: one suite over the local folder and an S3-compatible bucket.

The S3 side talks HTTP to moto's S3-compatible server, started on a free local port for this
module, through the real boto3 client the platform uses.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer

from guichet.files import (
    FileStore,
    FileStoreConfigurationError,
    LocalFileStore,
    S3FileStore,
    create_file_store,
)
from guichet.settings import ConfigurationError, FilesSettings, Settings

BUCKET = "guichet-test"
ACCESS_KEY = "guichet-access"
SECRET_KEY = "guichet-secret"  # moto accepts any
REGION = "us-east-1"
MiB = 1024 * 1024
DAY = timedelta(days=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin_client(endpoint_url: str):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        client = admin_client(url)
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield url
    finally:
        server.stop()


@pytest.fixture
def s3_admin(s3_url: str) -> Iterator:
    client = admin_client(s3_url)
    yield client
    client.close()


def make_s3_store(s3_url: str, bucket: str = BUCKET) -> S3FileStore:
    # Each test writes under its own prefix: the module's server is shared.
    return S3FileStore(
        s3_url, bucket, ACCESS_KEY, SECRET_KEY, REGION, prefix=f"test-{uuid.uuid4().hex}"
    )


@pytest.fixture
def s3_store(s3_url: str) -> Iterator[S3FileStore]:
    store = make_s3_store(s3_url)
    yield store
    store.client.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "local":
        return LocalFileStore(tmp_path / "files")
    s3_store: S3FileStore = request.getfixturevalue("s3_store")
    return s3_store


KEY = "tenants/5a3c/documents/0123abcd.pdf"
DATA = bytes(range(256)) * 40


# -- the suite both backends pass ---------------------------------------------------------------
def test_put_get_round_trip(store: FileStore) -> None:
    store.put(KEY, DATA)
    assert store.get(KEY) == DATA


def test_put_overwrites(store: FileStore) -> None:
    store.put(KEY, b"first version, longer than the second")
    store.put(KEY, b"second")
    assert store.get(KEY) == b"second"
    assert store.size(KEY) == len(b"second")


def test_exists(store: FileStore) -> None:
    assert not store.exists(KEY)
    store.put(KEY, b"x")
    assert store.exists(KEY)
    assert not store.exists("tenants/5a3c/documents/other.pdf")
    assert not store.exists("tenants/5a3c/documents")  # a "folder" is not a file


def test_size(store: FileStore) -> None:
    store.put(KEY, DATA)
    assert store.size(KEY) == len(DATA)
    store.put("empty.bin", b"")
    assert store.size("empty.bin") == 0


def test_missing_file_raises_file_not_found(store: FileStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.get(KEY)
    with pytest.raises(FileNotFoundError):
        store.size(KEY)


def test_delete_then_get_raises_and_delete_twice_is_fine(store: FileStore) -> None:
    store.put(KEY, DATA)
    store.delete(KEY)
    assert not store.exists(KEY)
    with pytest.raises(FileNotFoundError):
        store.get(KEY)
    with pytest.raises(FileNotFoundError):
        store.size(KEY)
    store.delete(KEY)
    store.delete("never/written.bin")


def test_put_stream_of_several_chunks(store: FileStore) -> None:
    chunks = [b"first-", b"", bytearray(b"second-"), memoryview(b"third"), DATA]
    total = store.put_stream(KEY, iter(chunks))  # type: ignore[arg-type]
    expected = b"first-second-third" + DATA
    assert total == len(expected)
    assert store.get(KEY) == expected
    assert store.size(KEY) == len(expected)


def test_put_stream_of_nothing_writes_an_empty_file(store: FileStore) -> None:
    assert store.put_stream(KEY, iter(())) == 0
    assert store.exists(KEY)
    assert store.get(KEY) == b""


def test_put_stream_above_the_multipart_threshold(store: FileStore) -> None:
    # 17 MiB and a bit, by 1 MiB chunks: the S3 store sends three parts (8 + 8 + 1 MiB).
    chunks = [bytes([i]) * MiB for i in range(17)] + [b"tail"]
    total = store.put_stream(KEY, chunks)
    assert total == 17 * MiB + 4
    assert store.size(KEY) == total
    assert store.get(KEY) == b"".join(chunks)


def test_put_stream_failing_midway_leaves_nothing(store: FileStore) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * MiB
        raise RuntimeError("the upload broke")

    with pytest.raises(RuntimeError, match="upload broke"):
        store.put_stream(KEY, chunks())
    assert not store.exists(KEY)


def test_put_stream_failing_midway_keeps_the_previous_version(store: FileStore) -> None:
    store.put(KEY, b"previous")

    def chunks() -> Iterator[bytes]:
        yield b"new"
        raise RuntimeError("the upload broke")

    with pytest.raises(RuntimeError):
        store.put_stream(KEY, chunks())
    assert store.get(KEY) == b"previous"


def test_listing_gives_the_files_under_a_folder_with_when_they_were_written(
    store: FileStore,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.put("tenants/5a3c/billing/a/1.pdf", b"1")
    store.put("tenants/5a3c/billing/a/b/2.pdf", b"2")
    store.put("tenants/5a3c/billing-runs/3.pdf", b"3")  # beside the folder, not in it
    store.put("tenants/5a3d/billing/4.pdf", b"4")
    listed = dict(store.listing("tenants/5a3c/billing/"))
    assert sorted(listed) == ["tenants/5a3c/billing/a/1.pdf", "tenants/5a3c/billing/a/b/2.pdf"]
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert all(before <= written <= after for written in listed.values())
    assert sorted(dict(store.listing("tenants/5a3c/billing"))) == sorted(listed)
    assert list(store.listing("tenants/5a3c/nothing/")) == []
    store.delete("tenants/5a3c/billing/a/1.pdf")
    assert [key for key, _ in store.listing("tenants/5a3c/billing/")] == [
        "tenants/5a3c/billing/a/b/2.pdf"
    ]
    for bad in ("../", "/etc/", ""):
        with pytest.raises(ValueError):
            list(store.listing(bad))


def test_s3_listing_follows_every_page(s3_store: S3FileStore) -> None:
    s3_store.list_page_size = 2
    keys = [f"tenants/5a3c/billing/{n}.pdf" for n in range(5)]
    for key in keys:
        s3_store.put(key, b"x")
    assert sorted(key for key, _ in s3_store.listing("tenants/5a3c/billing/")) == keys


def test_listing_a_linked_folder_gives_the_keys_as_named(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    (tmp_path / "files" / "volume" / "5a3c").mkdir(parents=True)  # another folder of the store
    (tmp_path / "files" / "tenants").mkdir()
    (tmp_path / "files" / "tenants" / "5a3c").symlink_to(tmp_path / "files" / "volume" / "5a3c")
    store.put("tenants/5a3c/billing/1.pdf", b"1")
    assert [key for key, _ in store.listing("tenants/5a3c/")] == ["tenants/5a3c/billing/1.pdf"]


TENANT = uuid.UUID("5a3c0000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("5a3c0000-0000-4000-8000-000000000002")
LEDGER = "9b1d0000-0000-4000-8000-000000000003"


def test_the_sweep_deletes_unnamed_parts_only(store: FileStore) -> None:
    """What the beat's sweep of print parts deletes, on both stores: parts and cut-short writes
    in the parts' folders that no row names, written before the limit; nothing else."""
    from guichet.billing.runs import _unnamed_parts

    folder = f"tenants/{TENANT}/billing/{LEDGER}/2020-02/"
    unnamed = folder + "courrier-2001000001-0123456789ab.pdf"
    cut_short = folder + ".tmp-k2j3h4"
    named = folder + "courrier-2001000051-0123456789ac.pdf"
    legacy = folder + "courrier-2001000101.pdf"  # before keys had a suffix: named by its row
    beside = f"tenants/{TENANT}/billing/notes.txt"  # not a part: no sweep of it
    other_tenant = f"tenants/{OTHER}/billing/{LEDGER}/2020-02/courrier-1-0123456789ad.pdf"
    elsewhere = f"tenants/{TENANT}/invoices/{LEDGER}-0123456789ab.pdf"
    for key in (unnamed, cut_short, named, legacy, beside, other_tenant, elsewhere):
        store.put(key, b"%PDF")
    later = datetime.now(UTC) + timedelta(minutes=1)  # everything written before it
    assert _unnamed_parts(store, [TENANT], {named, legacy}, datetime.now(UTC) - DAY) == 0
    assert _unnamed_parts(store, [TENANT], {named, legacy}, later) == 2
    left = {key for key, _ in store.listing(f"tenants/{TENANT}/")}
    assert left == {named, legacy, beside, elsewhere}
    assert store.exists(other_tenant)  # its tenant was not swept
    assert _unnamed_parts(store, [OTHER], set(), later) == 1


def test_the_sweep_goes_on_past_a_failing_tenant_or_key(store: FileStore) -> None:
    from guichet.billing.runs import _unnamed_parts

    parts = [
        f"tenants/{tenant}/billing/{LEDGER}/2020-02/courrier-{n}-0123456789ab.pdf"
        for tenant in (TENANT, OTHER)
        for n in (1, 2)
    ]
    for key in parts:
        store.put(key, b"%PDF")

    class Failing:
        def listing(self, prefix: str):
            if str(TENANT) in prefix:
                raise OSError("listing refused")
            return store.listing(prefix)

        def delete(self, key: str) -> None:
            if key == parts[2]:
                raise OSError("delete refused")
            store.delete(key)

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert _unnamed_parts(Failing(), [TENANT, OTHER], set(), later) == 1  # type: ignore[arg-type]
    assert [store.exists(key) for key in parts] == [True, True, True, False]


def test_deleting_a_tenant_deletes_what_is_left_under_its_folders(store: FileStore) -> None:
    from guichet.operators.archive import delete_tenant_files

    named = [f"tenants/{TENANT}/photos/ab.jpg", "tenants/albi/logo-0123456789abcdef.svg"]
    leftover = [
        f"tenants/{TENANT}/billing/{LEDGER}/2020-02/courrier-1-0123456789ab.pdf",
        "tenants/albi/logo-fedcba9876543210.png",  # an older logo
    ]
    kept = [
        f"tenants/{OTHER}/photos/cd.jpg",
        "tenants/albi/notes/logo-0123456789abcdef.svg",  # not where a logo goes
        "tenants/albi-2/logo-0123456789abcdef.svg",  # another tenant's slug
        "exports/albi/albi-20261207-120000.zip",  # the archive stays
    ]
    for key in named + leftover + kept:
        store.put(key, b"x")
    assert delete_tenant_files(store, TENANT, "albi", [*named, "tenants/albi/never.pdf"]) == 5
    assert [store.exists(key) for key in named + leftover + kept] == [False] * 4 + [True] * 4


def test_deleting_a_tenant_deletes_the_named_files_when_listing_fails(tmp_path: Path) -> None:
    from guichet.operators.archive import delete_tenant_files

    store = LocalFileStore(tmp_path / "files")
    store.put(f"tenants/{TENANT}/photos/ab.jpg", b"x")

    class Unlistable(LocalFileStore):
        def listing(self, prefix: str):
            raise OSError("listing refused")

    unlistable = Unlistable(tmp_path / "files")
    assert delete_tenant_files(unlistable, TENANT, "albi", [f"tenants/{TENANT}/photos/ab.jpg"]) == 1
    assert not store.exists(f"tenants/{TENANT}/photos/ab.jpg")


BAD_KEYS = [
    "../outside.bin",
    "tenants/../../outside.bin",
    "tenants/..",
    "/etc/passwd",
    "tenants\\x.bin",
    "..\\x.bin",
    "tenants/x\x00.bin",
    "",
    "tenants//x.bin",
    "./x.bin",
    "tenants/",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(store: FileStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.put_stream(key, [b"x"])
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.size(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.delete(key)


def test_check_passes_and_leaves_nothing(store: FileStore) -> None:
    store.check()
    store.check()
    assert not store.exists(".readyz")


# -- S3 only ------------------------------------------------------------------------------------
def test_s3_keys_live_under_the_prefix(s3_store: S3FileStore, s3_admin) -> None:
    s3_store.put(KEY, b"x")
    assert s3_store.prefix.endswith("/")
    s3_admin.head_object(Bucket=BUCKET, Key=s3_store.prefix + KEY)


def test_s3_check_raises_when_the_bucket_does_not_exist(s3_url: str) -> None:
    store = make_s3_store(s3_url, bucket="no-such-bucket")
    with pytest.raises(ClientError):
        store.check()
    store.client.close()


def test_s3_check_raises_when_the_server_is_down() -> None:
    store = S3FileStore(f"http://127.0.0.1:{free_port()}", BUCKET, ACCESS_KEY, SECRET_KEY, REGION)
    with pytest.raises(BotoCoreError):
        store.check()
    store.client.close()


def test_s3_objects_are_private_octet_streams(s3_store: S3FileStore, s3_admin, s3_url) -> None:
    s3_store.put(KEY, DATA)
    s3_store.put_stream("streamed.bin", [b"a", b"b"])
    for key in (KEY, "streamed.bin"):
        full_key = s3_store.prefix + key
        head = s3_admin.head_object(Bucket=BUCKET, Key=full_key)
        assert head["ContentType"] == "application/octet-stream"
        grants = s3_admin.get_object_acl(Bucket=BUCKET, Key=full_key)["Grants"]
        assert all("URI" not in grant["Grantee"] for grant in grants), grants
        # Moto enforces ACLs: an anonymous request is refused.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{s3_url}/{BUCKET}/{full_key}", timeout=10)
        assert refused.value.code == 403
        refused.value.close()


def test_s3_anonymous_get_would_work_on_a_public_object(s3_admin, s3_url) -> None:
    # Guards the test above: moto does serve public-read objects to anonymous requests.
    key = f"public-{uuid.uuid4().hex}.txt"
    s3_admin.put_object(Bucket=BUCKET, Key=key, Body=b"public", ACL="public-read")
    with urllib.request.urlopen(f"{s3_url}/{BUCKET}/{key}", timeout=10) as answer:
        assert answer.read() == b"public"


def test_s3_multipart_upload_is_used_above_the_threshold(s3_store: S3FileStore, s3_admin) -> None:
    s3_store.put_stream(KEY, [b"y" * MiB] * 17)
    head = s3_admin.head_object(Bucket=BUCKET, Key=s3_store.prefix + KEY)
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["ContentType"] == "application/octet-stream"


def test_s3_failed_multipart_upload_is_aborted(s3_store: S3FileStore, s3_admin) -> None:
    def chunks() -> Iterator[bytes]:
        yield from [b"z" * MiB] * 20
        raise RuntimeError("the upload broke")

    with pytest.raises(RuntimeError):
        s3_store.put_stream(KEY, chunks())
    uploads = s3_admin.list_multipart_uploads(Bucket=BUCKET, Prefix=s3_store.prefix)
    assert uploads.get("Uploads", []) == []


def test_s3_client_settings(s3_store: S3FileStore) -> None:
    config = s3_store.client.meta.config
    assert config.connect_timeout == 5
    assert config.read_timeout == 30
    # botocore reads max_attempts 3 as three retries: four attempts in all.
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


# -- create_file_store ---------------------------------------------------------------------------
def test_create_file_store_local(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    store = create_file_store(settings)
    assert isinstance(store, LocalFileStore)
    assert store.root == tmp_path / "files"


def test_create_file_store_s3(tmp_path: Path, s3_url: str) -> None:
    settings = Settings(
        var_dir=tmp_path,
        files=FilesSettings(
            backend="s3",
            s3_endpoint_url=s3_url,
            s3_bucket=BUCKET,
            s3_access_key=ACCESS_KEY,
            s3_secret_key=SECRET_KEY,
            s3_region="eu-west-3",
        ),
    )
    store = create_file_store(settings)
    assert isinstance(store, S3FileStore)
    assert store.bucket == BUCKET
    assert store.client.meta.region_name == "eu-west-3"
    store.check()
    store.put("created/by-settings.bin", b"ok")
    assert store.get("created/by-settings.bin") == b"ok"
    store.delete("created/by-settings.bin")
    store.client.close()
    assert not (tmp_path / "files").exists()


def test_s3_region_comes_from_the_environment(tmp_path: Path) -> None:
    env = {
        "GUICHET_VAR_DIR": str(tmp_path),
        "GUICHET_FILES_BACKEND": "s3",
        "GUICHET_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "GUICHET_S3_BUCKET": BUCKET,
        "GUICHET_S3_REGION": "fr-par",
    }
    settings = Settings.from_env(env)
    assert settings.files.s3_region == "fr-par"
    assert Settings.from_env({"GUICHET_VAR_DIR": str(tmp_path)}).files.s3_region == "us-east-1"
    store = create_file_store(settings)
    assert isinstance(store, S3FileStore)
    assert store.client.meta.region_name == "fr-par"
    store.client.close()


@pytest.mark.parametrize(
    ("endpoint", "bucket", "named", "not_named"),
    [
        ("http://127.0.0.1:9000", "", ["GUICHET_S3_BUCKET"], ["GUICHET_S3_ENDPOINT_URL"]),
        ("", BUCKET, ["GUICHET_S3_ENDPOINT_URL"], ["GUICHET_S3_BUCKET"]),
        ("  ", "", ["GUICHET_S3_ENDPOINT_URL", "GUICHET_S3_BUCKET"], []),
    ],
)
def test_create_file_store_s3_refuses_missing_settings(
    tmp_path: Path, endpoint: str, bucket: str, named: list[str], not_named: list[str]
) -> None:
    settings = Settings(
        var_dir=tmp_path,
        files=FilesSettings(backend="s3", s3_endpoint_url=endpoint, s3_bucket=bucket),
    )
    with pytest.raises(FileStoreConfigurationError) as refused:
        create_file_store(settings)
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, ConfigurationError)
    for name in named:
        assert name in str(refused.value)
    for name in not_named:
        assert name not in str(refused.value)
