"""PostgreSQL for tests: a server (CTXPLAN_TEST_POSTGRES_URL, or a throwaway cluster), one database per test.

Fixtures (exposed by conftest.py):
- `postgres_url`: a fresh, empty database on that server for one test, dropped afterwards;
- `store_url`: parametrized over ["sqlite", "postgresql"], a fresh database URL of each kind.

Without a server URL, the session starts its own cluster when the server binaries exist
(`initdb`/`pg_ctl`, run as the `postgres` user when we are root; fsync off, data in a temp folder)
and skips the PostgreSQL variants otherwise, saying why. With CTXPLAN_TEST_POSTGRES=required
(as `.ci/run` sets) a missing server fails the test instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from servers import free_port

SUPERUSER = "postgres"


def _unavailable(reason: str):
    if os.environ.get("CTXPLAN_TEST_POSTGRES") == "required":
        pytest.fail(f"CTXPLAN_TEST_POSTGRES=required, but {reason}", pytrace=False)
    pytest.skip(reason)


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian's versioned folders first, then PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2])
                         if p.split("/")[-2].isdigit() else 0, reverse=True):
        if os.access(f"{folder}/initdb", os.X_OK) and os.access(f"{folder}/pg_ctl", os.X_OK):
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent else None


class Cluster:
    """A throwaway cluster on 127.0.0.1:`port` (data, socket and log in one temp folder)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.as_postgres = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
        # /tmp: the postgres user must reach the folder, which a root-only TMPDIR may not allow
        self.folder = Path(tempfile.mkdtemp(prefix="ctxplan-pg-", dir="/tmp" if self.as_postgres else None))
        self.port = free_port()
        if self.as_postgres:
            shutil.chown(self.folder, SUPERUSER)

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_postgres, str(self.binaries / tool), *args], capture_output=True,
                                text=True, timeout=120, cwd=self.folder)   # a cwd the postgres user can enter
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")

    def start(self) -> str:
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8")
        options = (f"-k {self.folder} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "log"), "-o", options, "-w", "-t", "60", "start")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """(A URL of a database on the server to run CREATE/DROP DATABASE from; None when there is no server).

    Unavailability is reported per test (by `postgres_url`), so a session fixture never skips a whole module."""
    url = os.environ.get("CTXPLAN_TEST_POSTGRES_URL")
    if url:
        yield url, None
        return
    binaries = server_binaries()
    if binaries is None:
        yield None, ("PostgreSQL server binaries not found: no initdb/pg_ctl in /usr/lib/postgresql/*/bin or on "
                     "PATH (install Debian's postgresql package, or set CTXPLAN_TEST_POSTGRES_URL)")
        return
    cluster = None
    try:
        cluster = Cluster(binaries)
        url = cluster.start()
    except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as exc:   # LookupError: no postgres user
        if cluster is not None:
            cluster.stop()
        yield None, f"could not start a PostgreSQL cluster with {binaries}: {exc!r}"
        return
    try:
        yield url, None
    finally:
        cluster.stop()


def _admin(url: str):
    import psycopg
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
                           dbname=parsed.database or "postgres", autocommit=True, connect_timeout=10)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database for this test (a `postgresql://` URL); dropped afterwards."""
    server_url, reason = postgres_server
    if server_url is None:
        _unavailable(reason)
    from sqlalchemy.engine import make_url
    name = f"ctxplan_t_{uuid.uuid4().hex[:16]}"
    try:
        with _admin(server_url) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:   # psycopg.Error and friends: the server is there but unusable
        _unavailable(f"cannot create a database on {make_url(server_url).render_as_string(hide_password=True)}: {exc}")
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with _admin(server_url) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh database URL for each backend: SQLite in tmp_path, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")
