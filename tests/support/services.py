"""Real PostgreSQL and Redis servers for the test suite.

Each context manager reuses a server already listening on the standard local port when
there is one (or the one named by an environment variable) and otherwise starts a
throwaway server of its own, stopped and removed at exit.

Environment overrides:
    GUICHET_TEST_PG_DSN     admin DSN, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``
    GUICHET_TEST_REDIS_URL  Redis URL, e.g. ``redis://127.0.0.1:6379/13``
    GUICHET_TEST_REDIS_DB   db number used on a detected local Redis (default 13)
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import redis
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

LOCALHOST = "127.0.0.1"
DEFAULT_PG_PORT = 5432
DEFAULT_REDIS_PORT = 6379
DEFAULT_REDIS_DB = 13
PG_DSN_ENV = "GUICHET_TEST_PG_DSN"
REDIS_URL_ENV = "GUICHET_TEST_REDIS_URL"
REDIS_DB_ENV = "GUICHET_TEST_REDIS_DB"
PG_INSTALL_HINT = "apt-get install -y postgresql"
REDIS_INSTALL_HINT = "apt-get install -y redis-server"


@dataclass(frozen=True)
class PgServer:
    """A reachable PostgreSQL server and a superuser DSN for it."""

    host: str
    port: int
    admin_dsn: str
    data_dir: Path | None = None  # a throwaway cluster's, which the tests may stop and start

    def dsn(self, dbname: str | None = None, user: str | None = None) -> str:
        """DSN for ``dbname`` (default: the admin database) as ``user`` (default: admin)."""
        params = parse_dsn(self.admin_dsn)
        if dbname is not None:
            params["dbname"] = dbname
        if user is not None and user != params.get("user"):
            params["user"] = user
            params.pop("password", None)
        return str(make_dsn(**params))


@dataclass(frozen=True)
class RedisServer:
    """A reachable Redis server, the db number tests should use, and its URL."""

    host: str
    port: int
    db: int
    url: str


# --------------------------------------------------------------------------- helpers


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to host:port succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, or an empty string if it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _warn(message: str) -> None:
    print(f"tests.support.services: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_answers(host: str, port: int) -> bool:
    """True if a passwordless superuser login as ``postgres`` works on host:port."""
    try:
        conn = psycopg2.connect(
            host=host, port=port, user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.Error:
        return False
    conn.close()
    return True


def _pg_bindir() -> Path:
    """The bin directory of the highest PostgreSQL version installed."""

    def version_key(path: str) -> tuple[int, ...]:
        version = Path(path).parent.parent.name
        return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)

    candidates = [
        p
        for p in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(os.path.join(p, "initdb"), os.X_OK)
        and os.access(os.path.join(p, "pg_ctl"), os.X_OK)
    ]
    if candidates:
        return Path(max(candidates, key=version_key))
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    raise RuntimeError(
        "Cannot start a throwaway PostgreSQL: no server binaries found (looked in "
        "/usr/lib/postgresql/*/bin and PATH). Install them with: "
        f"{PG_INSTALL_HINT} (or set {PG_DSN_ENV} to an existing server's admin DSN)"
    )


def _pg_command_prefix() -> list[str]:
    """``runuser -u postgres --`` when running as root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    if not os.access(runuser, os.X_OK):
        raise RuntimeError("Running as root but 'runuser' is missing (package util-linux).")
    return [runuser, "-u", "postgres", "--"]


def _run_pg(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _pg_command_prefix() + cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _stop_pg(bindir: Path, base: Path, data: Path) -> None:
    """Stop the throwaway cluster (fast, then by signal if need be)."""
    if not (data / "postmaster.pid").exists():
        return
    try:
        result = _run_pg(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], base, 60
        )
        if result.returncode == 0:
            return
        _warn(f"pg_ctl stop failed: {result.stderr.strip() or result.stdout.strip()}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        _warn(f"pg_ctl stop failed: {exc}")
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@contextmanager
def _throwaway_postgres() -> Iterator[PgServer]:
    """Start a private PostgreSQL cluster on a free port; stop and remove it at exit."""
    bindir = _pg_bindir()
    base = Path(tempfile.mkdtemp(prefix="guichet-pg-"))
    data, log = base / "data", base / "log"
    try:
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "Running as root but there is no 'postgres' user to run the server as. "
                    f"Install the server package with: {PG_INSTALL_HINT}"
                ) from exc
            shutil.chown(base, user="postgres")
        init_cmd = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        init_cmd += ["-N", "-E", "UTF8"]
        result = _run_pg([*init_cmd, "--locale=C.UTF-8"], base, 120)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            result = _run_pg([*init_cmd, "--locale=C"], base, 120)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

        last_error = ""
        for _attempt in range(3):  # the free port may be taken between pick and bind
            port = _free_port()
            options = f"-p {port} -k {base} -c listen_addresses={LOCALHOST} -c fsync=off"
            start_cmd = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w"]
            result = _run_pg([*start_cmd, "-o", options, "start"], base, 120)
            if result.returncode == 0 and _pg_answers(LOCALHOST, port):
                break
            last_error = f"{result.stdout}\n{result.stderr}\n{_tail(log)}"
            _stop_pg(bindir, base, data)
        else:
            raise RuntimeError(f"could not start a throwaway PostgreSQL:\n{last_error}")

        yield PgServer(
            LOCALHOST, port, f"postgresql://postgres@{LOCALHOST}:{port}/postgres", data_dir=data
        )
    finally:
        _stop_pg(bindir, base, data)
        shutil.rmtree(base, ignore_errors=True)


def stop_postgres(server: PgServer) -> None:
    """Stop a throwaway cluster (``-m fast``: sessions are cut, as in a failover)."""
    assert server.data_dir is not None, "only a throwaway cluster can be stopped"
    _stop_pg(_pg_bindir(), server.data_dir.parent, server.data_dir)


def start_postgres(server: PgServer) -> None:
    """Start a stopped throwaway cluster again on the same port."""
    assert server.data_dir is not None, "only a throwaway cluster can be started"
    base = server.data_dir.parent
    options = f"-p {server.port} -k {base} -c listen_addresses={LOCALHOST} -c fsync=off"
    command = [str(_pg_bindir() / "pg_ctl"), "-D", str(server.data_dir), "-l", str(base / "log")]
    result = _run_pg([*command, "-w", "-o", options, "start"], base, 120)
    if result.returncode != 0 or not _pg_answers(LOCALHOST, server.port):
        raise RuntimeError(
            f"PostgreSQL did not start again:\n{result.stderr}\n{_tail(base / 'log')}"
        )


def _server_from_dsn(dsn: str) -> PgServer:
    params = parse_dsn(dsn)
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return PgServer(host, int(params.get("port") or DEFAULT_PG_PORT), dsn)


@contextmanager
def postgres_server(force_throwaway: bool = False) -> Iterator[PgServer]:
    """Yield a PostgreSQL server: $GUICHET_TEST_PG_DSN, a local one on 5432, or a private one.

    ``force_throwaway`` skips the environment and the detection and always starts a
    private cluster.
    """
    if not force_throwaway:
        env_dsn = os.environ.get(PG_DSN_ENV)
        if env_dsn:
            try:
                psycopg2.connect(env_dsn, connect_timeout=5).close()
            except psycopg2.Error as exc:
                raise RuntimeError(f"{PG_DSN_ENV}={env_dsn!r} does not connect: {exc}") from exc
            yield _server_from_dsn(env_dsn)
            return
        if _port_open(LOCALHOST, DEFAULT_PG_PORT) and _pg_answers(LOCALHOST, DEFAULT_PG_PORT):
            yield PgServer(
                LOCALHOST,
                DEFAULT_PG_PORT,
                f"postgresql://postgres@{LOCALHOST}:{DEFAULT_PG_PORT}/postgres",
            )
            return
    with _throwaway_postgres() as server:
        yield server


def _admin_execute(
    server: PgServer,
    query: sql.Composable,
    params: tuple[object, ...] = (),
    dbname: str | None = None,
) -> None:
    """Run one statement in autocommit mode as the admin user."""
    conn = psycopg2.connect(server.dsn(dbname), connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params or None)
    finally:
        conn.close()


def create_database(server: PgServer, name: str | None = None, owner: str | None = None) -> str:
    """Create a database (default name ``guichet_test_<hex>``) and return its name."""
    name = name or f"guichet_test_{uuid.uuid4().hex[:16]}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner is not None:
        query = sql.SQL("{} OWNER {}").format(query, sql.Identifier(owner))
    _admin_execute(server, query)
    return name


def drop_database(server: PgServer, name: str) -> None:
    """Terminate the database's other sessions, then ``DROP DATABASE IF EXISTS``."""
    _admin_execute(
        server,
        sql.SQL(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        ),
        (name,),
    )
    _admin_execute(server, sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def create_role(server: PgServer, name: str | None = None, password: str | None = None) -> str:
    """Create a LOGIN role (NOSUPERUSER, NOBYPASSRLS) unless it exists; return its name."""
    name = name or f"guichet_role_{uuid.uuid4().hex[:16]}"
    query = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(name))
    params: tuple[object, ...] = ()
    if password is not None:
        query = sql.SQL("{} PASSWORD %s").format(query)
        params = (password,)
    with suppress(psycopg2.errors.DuplicateObject):  # already there, or created concurrently
        _admin_execute(server, query, params)
    return name


def drop_role(server: PgServer, name: str, database: str | None = None) -> None:
    """``DROP ROLE IF EXISTS``; first reassign/drop what it owns in ``database`` if given.

    Objects the role owns in other, still existing databases are the caller's job
    (``DROP OWNED BY`` there); PostgreSQL then refuses the drop with an error.
    """
    if database is not None:
        role = sql.Identifier(name)
        query = sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER; DROP OWNED BY {}").format(role, role)
        # UndefinedObject: the role is gone; OperationalError: the database is gone.
        with suppress(psycopg2.errors.UndefinedObject, psycopg2.OperationalError):
            _admin_execute(server, query, dbname=database)
    _admin_execute(server, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


# --------------------------------------------------------------------------- Redis


def _redis_pings(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _test_redis_db() -> int:
    value = os.environ.get(REDIS_DB_ENV, "")
    try:
        return int(value) if value.strip() else DEFAULT_REDIS_DB
    except ValueError as exc:
        raise RuntimeError(f"{REDIS_DB_ENV}={value!r} is not an integer") from exc


def _server_from_url(url: str) -> RedisServer:
    kwargs = redis.Redis.from_url(url).connection_pool.connection_kwargs
    host = str(kwargs.get("host") or kwargs.get("path") or LOCALHOST)
    return RedisServer(host, int(kwargs.get("port") or 0), int(kwargs.get("db") or 0), url)


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    raise RuntimeError(
        "Cannot start a throwaway Redis: redis-server not found (looked in PATH and "
        f"/usr/bin). Install it with: {REDIS_INSTALL_HINT} "
        f"(or set {REDIS_URL_ENV} to an existing server's URL)"
    )


@contextmanager
def _throwaway_redis(db: int) -> Iterator[RedisServer]:
    """Start a private, non-persistent redis-server on a free port; stop it at exit."""
    binary = _redis_binary()
    base = Path(tempfile.mkdtemp(prefix="guichet-redis-"))
    log = base / "log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = _free_port()
        url = f"redis://{LOCALHOST}:{port}/{db}"
        args = f"--port {port} --bind {LOCALHOST} --appendonly no --daemonize no".split()
        args += ["--save", "", "--dir", str(base), "--databases", str(max(16, db + 1))]
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                [binary, *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=base,
            )
        deadline = time.monotonic() + 10
        while not _redis_pings(url, timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"could not start a throwaway redis-server:\n{_tail(log)}")
            time.sleep(0.05)
        yield RedisServer(LOCALHOST, port, db, url)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server(force_throwaway: bool = False) -> Iterator[RedisServer]:
    """Yield a Redis server: $GUICHET_TEST_REDIS_URL, a local one on 6379, or a private one.

    On a shared server, use the yielded ``db``, prefix keys uniquely and call
    :func:`cleanup_prefix` afterwards. ``force_throwaway`` always starts a private one.
    """
    if not force_throwaway:
        env_url = os.environ.get(REDIS_URL_ENV)
        if env_url:
            if not _redis_pings(env_url, timeout=5):
                raise RuntimeError(f"{REDIS_URL_ENV}={env_url!r} does not answer PING")
            yield _server_from_url(env_url)
            return
        db = _test_redis_db()
        url = f"redis://{LOCALHOST}:{DEFAULT_REDIS_PORT}/{db}"
        if _redis_pings(url):
            yield RedisServer(LOCALHOST, DEFAULT_REDIS_PORT, db, url)
            return
    with _throwaway_redis(_test_redis_db()) as server:
        yield server


def cleanup_prefix(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix`` (found with SCAN); return how many."""
    if not prefix:
        raise ValueError("refusing to clean up an empty prefix")
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return deleted
