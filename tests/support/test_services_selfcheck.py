"""Self-checks of tests.support.services against real PostgreSQL and Redis servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import redis

from tests.support import services
from tests.support.services import (
    PgServer,
    RedisServer,
    cleanup_prefix,
    create_database,
    create_role,
    drop_database,
    drop_role,
    postgres_server,
    redis_server,
)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def rds() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def _database_exists(server: PgServer, name: str) -> bool:
    conn = psycopg2.connect(server.admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _role_exists(server: PgServer, name: str) -> bool:
    conn = psycopg2.connect(server.admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _check_database_lifecycle(server: PgServer) -> None:
    name = create_database(server)
    assert name.startswith("guichet_test_")
    assert _database_exists(server, name)
    conn = psycopg2.connect(server.dsn(name))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id serial PRIMARY KEY, label text NOT NULL)")
            cur.execute("INSERT INTO t (label) VALUES (%s) RETURNING id", ("élan",))
            assert cur.fetchone() == (1,)
            cur.execute("SELECT upper(label), current_database() FROM t")
            assert cur.fetchone() == ("ÉLAN", name)
        # The connection is still open: drop_database must terminate it.
        drop_database(server, name)
    finally:
        conn.close()
    assert not _database_exists(server, name)
    drop_database(server, name)  # idempotent


def test_database_lifecycle(pg: PgServer) -> None:
    _check_database_lifecycle(pg)


def test_create_database_with_given_name(pg: PgServer) -> None:
    name = f"guichet_test_named_{uuid.uuid4().hex[:8]}"
    try:
        assert create_database(pg, name) == name
        assert _database_exists(pg, name)
    finally:
        drop_database(pg, name)
    assert not _database_exists(pg, name)


def test_role_connects_without_privileges(pg: PgServer) -> None:
    role = f"guichet_test_role_{uuid.uuid4().hex[:8]}"
    db = create_database(pg)
    try:
        assert create_role(pg, role) == role
        assert create_role(pg, role) == role  # already there: no error
        conn = psycopg2.connect(pg.dsn(db, user=role))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_user, current_database()")
                assert cur.fetchone() == (role, db)
                cur.execute(
                    "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles "
                    "WHERE rolname = current_user"
                )
                assert cur.fetchone() == (False, False, True)
        finally:
            conn.close()
    finally:
        drop_database(pg, db)
        drop_role(pg, role)
    assert not _role_exists(pg, role)


def test_drop_role_owning_objects(pg: PgServer) -> None:
    role = create_role(pg)
    db = create_database(pg)
    try:
        admin = psycopg2.connect(pg.dsn(db))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        admin.close()
        conn = psycopg2.connect(pg.dsn(db, user=role))
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE owned_by_role (id int)")
        conn.close()
        with pytest.raises(psycopg2.errors.DependentObjectsStillExist):
            drop_role(pg, role)
        drop_role(pg, role, database=db)
        assert not _role_exists(pg, role)
        drop_role(pg, role, database=db)  # idempotent
    finally:
        drop_database(pg, db)
        drop_role(pg, role)


def _check_redis_prefix(server: RedisServer) -> None:
    prefix = f"guichet:test:{uuid.uuid4().hex}:"
    other = f"guichet:test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(server.url)
    try:
        assert client.connection_pool.connection_kwargs["db"] == server.db
        client.set(f"{prefix}a", "1")
        client.set(f"{prefix}b", "2")
        client.hset(f"{prefix}h", mapping={"k": "v"})
        client.set(f"{other}keep", "x")
        assert client.get(f"{prefix}a") == b"1"
        assert cleanup_prefix(server.url, prefix) == 3
        assert list(client.scan_iter(match=f"{prefix}*")) == []
        assert client.get(f"{other}keep") == b"x"
    finally:
        cleanup_prefix(server.url, other)
        client.close()
    assert list(redis.Redis.from_url(server.url).scan_iter(match=f"{other}*")) == []


def test_redis_set_get_and_cleanup(rds: RedisServer) -> None:
    _check_redis_prefix(rds)


def test_cleanup_prefix_escapes_glob_characters(rds: RedisServer) -> None:
    base = f"guichet:test:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(rds.url)
    try:
        client.set(f"{base}:[x]*:1", "1")
        client.set(f"{base}:x-other", "2")
        assert cleanup_prefix(rds.url, f"{base}:[x]*:") == 1
        assert client.get(f"{base}:x-other") == b"2"
    finally:
        cleanup_prefix(rds.url, base)
        client.close()
    with pytest.raises(ValueError, match="empty prefix"):
        cleanup_prefix(rds.url, "")


def test_detected_redis_uses_test_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(services.REDIS_URL_ENV, raising=False)
    monkeypatch.setenv(services.REDIS_DB_ENV, "11")
    with redis_server() as server:
        assert server.db == 11
        assert server.url.endswith("/11")
        assert redis.Redis.from_url(server.url).ping()


def test_throwaway_postgres(pg: PgServer) -> None:
    with postgres_server(force_throwaway=True) as server:
        assert server.host == "127.0.0.1"
        assert server.port not in (pg.port, services.DEFAULT_PG_PORT)
        assert services._port_open(server.host, server.port)
        conn = psycopg2.connect(server.admin_dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            (data_dir,) = cur.fetchone()
        conn.close()
        assert os.path.isdir(data_dir)
        _check_database_lifecycle(server)
        role = create_role(server)
        db = create_database(server, owner=role)
        conn = psycopg2.connect(server.dsn(db, user=role))
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE mine (id int)")  # the role owns the database
        conn.close()
        drop_database(server, db)
        drop_role(server, role)
    assert not services._port_open(server.host, server.port)
    assert not os.path.exists(os.path.dirname(data_dir))


def test_throwaway_postgres_cleans_up_on_error() -> None:
    with pytest.raises(KeyError), postgres_server(force_throwaway=True) as server:
        raise KeyError("boom")
    assert not services._port_open(server.host, server.port)


def test_throwaway_redis(rds: RedisServer) -> None:
    with redis_server(force_throwaway=True) as server:
        assert server.host == "127.0.0.1"
        assert server.port not in (rds.port, services.DEFAULT_REDIS_PORT)
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        base_dir = client.config_get("dir")["dir"]
        client.close()
        _check_redis_prefix(server)
    assert not services._port_open(server.host, server.port)
    assert not os.path.exists(base_dir)


def test_env_overrides(monkeypatch: pytest.MonkeyPatch, pg: PgServer, rds: RedisServer) -> None:
    monkeypatch.setenv(services.PG_DSN_ENV, pg.admin_dsn)
    monkeypatch.setenv(services.REDIS_URL_ENV, rds.url)
    with postgres_server() as server:
        assert (server.host, server.port, server.admin_dsn) == (pg.host, pg.port, pg.admin_dsn)
    with redis_server() as rserver:
        assert rserver == rds


def test_missing_binaries_give_install_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    monkeypatch.setattr(services.os, "access", lambda path, mode: False)
    with pytest.raises(RuntimeError, match="apt-get install -y postgresql"):
        services._pg_bindir()
    with pytest.raises(RuntimeError, match="apt-get install -y redis-server"):
        services._redis_binary()
