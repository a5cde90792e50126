"""Persistent store: jobs, their results, and uploaded hardware profiles (SQLAlchemy 2).

SQLite by default (WAL mode, so job processes can write progress while the API reads);
PostgreSQL (`postgresql://`, driven by psycopg 3) is the tested second backend. A finished job's
result is written in the same transaction that marks it succeeded, so it is never lost by a crash.

Tenancy: every job and uploaded profile has an `owner` (the service stores a hash of the API key,
"" without keys). Idempotency keys and profile names are unique per owner, never globally:

    jobs      id (global UUID) | owner | kind | status | ... | idempotency_key   unique (owner, key)
    profiles  (owner, name) -> yaml_text

The schema carries a version row in `meta`; `Store()` creates or migrates it in one transaction,
holding a lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock) so that processes opening the
same database at once do it exactly once. Values the database cannot hold (a lone surrogate, NUL
in PostgreSQL text, an integer past 64 bits, a string past its column) raise `ValueError` naming
the field before they reach the driver.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import uuid

from sqlalchemy import (BigInteger, Float, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint,
                        create_engine, delete, event, func, inspect, select, update)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from api.job_status import TERMINAL, JobStatus

SCHEMA_VERSION = 2
MAX_SEED = 2**63 - 1
MAX_ROWS = 2**62                 # offsets and limits are clamped here: both backends hold 64-bit integers
OWNER_CHARS = 64
KEY_CHARS = 200
NAME_CHARS = 100
HASH_CHARS = 128                 # the service passes "<sha256 hex>:<seed>" (up to 84 characters)
_SCHEMA_LOCK_ID = 0x6374_7870    # PostgreSQL advisory lock id ("ctxp")


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
                      Index("ix_jobs_owner_kind_created", "owner", "kind", "created_at"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), default="", server_default="", index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))
    spec_json: Mapped[str] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_CHARS), nullable=True)
    body_hash: Mapped[str | None] = mapped_column(String(HASH_CHARS), nullable=True)
    started_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (PrimaryKeyConstraint("owner", "name", name="pk_profiles"),)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), default="", server_default="")
    name: Mapped[str] = mapped_column(String(NAME_CHARS))
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def make_engine(url: str) -> Engine:
    """An engine for `url`; `postgres://` and `postgresql://` are driven by psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            _set_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    else:
        engine = create_engine(parsed, pool_pre_ping=True)
    return engine


def _set_wal(cursor, wait_s: float = 30.0) -> None:
    """WAL mode (persistent in the file). Switching a fresh file needs an exclusive lock and SQLite answers
    SQLITE_BUSY at once, without its busy handler, when processes opening the file together collide:
    retry for up to `wait_s` (the busy timeout), then let the error through."""
    deadline = time.monotonic() + wait_s
    delay_s = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay_s)
            delay_s = min(2 * delay_s, 0.2)


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        _prepare_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # jobs

    def create_job(self, kind: str, spec: dict, seed: int | None, idempotency_key: str | None,
                   body_hash: str | None, owner: str = "") -> tuple[dict, bool]:
        """(job, created): the owner's job with the same idempotency key and body is returned as is.

        KeyError when the owner reused the key with a different body; ValueError for a value the
        database cannot hold."""
        _text("owner", owner, OWNER_CHARS)
        _text("kind", kind, 20)
        if idempotency_key is not None:
            _text("idempotency_key", idempotency_key, KEY_CHARS)
        if body_hash is not None:
            _text("body_hash", body_hash, HASH_CHARS)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed={seed} is out of range: allowed 0..{MAX_SEED}")
        spec_json = json.dumps(spec)    # ensure_ascii: surrogates and NUL leave as \u escapes
        for attempt in (1, 2):          # a concurrent insert of the same key loses on the unique index
            try:
                return self._create_job(kind, spec_json, seed, idempotency_key or None, body_hash, owner)
            except IntegrityError:
                if not idempotency_key or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _create_job(self, kind: str, spec_json: str, seed: int | None, idempotency_key: str | None,
                    body_hash: str | None, owner: str) -> tuple[dict, bool]:
        with Session(self.engine) as session, session.begin():
            if idempotency_key:
                existing = session.scalar(select(Job).where(Job.owner == owner,
                                                            Job.idempotency_key == idempotency_key))
                if existing is not None:
                    if existing.body_hash != body_hash:
                        raise KeyError("Idempotency-Key reused with a different body")
                    return _job_dict(existing), False
            stamp = now()
            job = Job(id=str(uuid.uuid4()), owner=owner, kind=kind, status=JobStatus.QUEUED.value, created_at=stamp,
                      updated_at=stamp, spec_json=spec_json, seed=seed, progress=0.0,
                      idempotency_key=idempotency_key, body_hash=body_hash)
            session.add(job)
            session.flush()
            return _job_dict(job), True

    def get_job(self, job_id: str, owner: str | None = None, with_spec: bool = False) -> dict | None:
        """The job, or None; with an `owner` (None: any owner) another owner's job is None too."""
        if not _is_storable(job_id) or (owner is not None and not _is_storable(owner)):
            return None
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None or (owner is not None and job.owner != owner):
                return None
            return _job_dict(job, with_spec)

    def list_jobs(self, kind: str, offset: int, limit: int, owner: str | None = None) -> tuple[list[dict], int]:
        """(a page of jobs of `kind`, newest first, without results; the total); owner None: all owners."""
        condition = [Job.kind == kind] + ([] if owner is None else [Job.owner == owner])
        if not all(_is_storable(value) for value in (kind, owner or "")):
            return [], 0
        with Session(self.engine) as session:
            rows = session.scalars(select(Job).where(*condition).order_by(Job.created_at.desc(), Job.id)
                                   .offset(_clamp(offset)).limit(_clamp(limit))).all()
            total = session.scalar(select(func.count()).select_from(Job).where(*condition))
            return [_job_dict(r, include_result=False) for r in rows], total

    def set_status(self, job_id: str, status: JobStatus, *, only_from: tuple[JobStatus, ...] | None = None,
                   **fields) -> bool:
        """Move a job to `status` (optionally only from the given states, atomically); True when it changed.
        Statuses reach the database as plain strings (`.value`), whatever the driver does with enums."""
        status = JobStatus(status)
        values = {"status": status.value, "updated_at": now(),
                  **{k: _printable(v) if isinstance(v, str) else v for k, v in fields.items()}}
        if status == JobStatus.RUNNING:
            values.setdefault("started_at", now())
        if status in TERMINAL:
            values.setdefault("finished_at", now())
        if not _is_storable(job_id):
            return False
        with Session(self.engine) as session, session.begin():
            statement = update(Job).where(Job.id == job_id)
            if only_from:
                statement = statement.where(Job.status.in_([JobStatus(s).value for s in only_from]))
            return session.execute(statement.values(**values)).rowcount > 0

    def set_progress(self, job_id: str, progress: float) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                            .values(progress=progress, updated_at=now()))

    def discard_job(self, job_id: str) -> bool:
        """Delete a job that is still queued and never ran (its submission was refused); True when deleted.

        Its idempotency key is free again, so a retry creates a fresh job."""
        if not _is_storable(job_id):
            return False
        with Session(self.engine) as session, session.begin():
            return session.execute(delete(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value,
                                                     Job.started_at.is_(None))).rowcount > 0

    def recover(self, requeue: bool) -> tuple[list[str], list[str]]:
        """After a crash: running jobs become failed (`interrupted`) or queued again; returns (queued ids, interrupted ids)."""
        with Session(self.engine) as session, session.begin():
            stamp = now()
            moved = (update(Job).where(Job.status == JobStatus.RUNNING.value).returning(Job.id))
            if requeue:
                session.execute(moved.values(status=JobStatus.QUEUED.value, progress=0.0, updated_at=stamp))
                interrupted = []
            else:
                interrupted = list(session.scalars(moved.values(status=JobStatus.FAILED.value, error="interrupted",
                                                                updated_at=stamp, finished_at=stamp)))
            queued = session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED.value)
                                     .order_by(Job.created_at)).all()
            return list(queued), interrupted

    def count(self, status: JobStatus) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus(status).value))

    def count_queued(self) -> int:
        return self.count(JobStatus.QUEUED)

    # uploaded profiles

    def put_profile(self, name: str, yaml_text: str, owner: str = "") -> None:
        """Create or replace the owner's profile `name` (other owners' profiles are untouched)."""
        _text("owner", owner, OWNER_CHARS)
        _text("profile name", name, NAME_CHARS)
        _text("profile text", yaml_text)
        with Session(self.engine) as session, session.begin():
            session.merge(Profile(owner=owner, name=name, yaml_text=yaml_text, created_at=now()))

    def get_profile(self, name: str, owner: str = "") -> str | None:
        if not (_is_storable(name) and _is_storable(owner)):
            return None
        with Session(self.engine) as session:
            profile = session.get(Profile, (owner, name))
            return profile.yaml_text if profile else None

    def profile_names(self, owner: str = "") -> list[str]:
        """The owner's uploaded profile names, without their documents."""
        if not _is_storable(owner):
            return []
        with Session(self.engine) as session:
            return list(session.scalars(select(Profile.name).where(Profile.owner == owner).order_by(Profile.name)))

    def profiles(self, owner: str = "") -> dict[str, str]:
        """The owner's uploaded profiles: name -> YAML text."""
        if not _is_storable(owner):
            return {}
        with Session(self.engine) as session:
            return {p.name: p.yaml_text for p in session.scalars(select(Profile).where(Profile.owner == owner)
                                                                 .order_by(Profile.name)).all()}


# schema

_V1_JOB_COLUMNS = ("id, kind, status, created_at, updated_at, spec_json, seed, progress, result_json, error, "
                   "idempotency_key, body_hash, started_at, finished_at")


def _prepare_schema(engine: Engine) -> None:
    """Create the schema, or migrate it to SCHEMA_VERSION, once, under a database-wide lock."""
    with engine.connect() as connection:
        if _schema_version(connection) == SCHEMA_VERSION:
            return                                   # the common case (every job process): no lock
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")   # DDL inside the transaction, writers wait
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_ID})")
        version = _schema_version(connection)
        if version is not None and version > SCHEMA_VERSION:
            raise RuntimeError(f"database schema {version} is newer than this ctxplan ({SCHEMA_VERSION})")
        if version == 1:
            _migrate_v1(connection)
        Base.metadata.create_all(connection)
        if version is None:
            connection.execute(Meta.__table__.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        else:
            connection.execute(update(Meta).where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION)))
        connection.commit()


def _schema_version(connection: Connection) -> int | None:
    if not inspect(connection).has_table("meta"):
        return None
    value = connection.scalar(select(Meta.value).where(Meta.key == "schema_version"))
    return None if value is None else int(value)


def _migrate_v1(connection: Connection) -> None:
    """v1 -> v2 in place: jobs gain `owner` (""), idempotency keys become unique per owner, seeds
    64-bit; profiles are keyed by (owner, name). Tables are rebuilt (SQLite cannot drop a UNIQUE
    column constraint), inside the caller's transaction."""
    for table in ("jobs", "profiles"):
        connection.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_v1")
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_jobs_status")   # it moved with the renamed table
    Base.metadata.create_all(connection, tables=[Job.__table__, Profile.__table__])
    connection.exec_driver_sql(f"INSERT INTO jobs ({_V1_JOB_COLUMNS}, owner) SELECT {_V1_JOB_COLUMNS}, '' FROM jobs_v1")
    connection.exec_driver_sql("INSERT INTO profiles (owner, name, yaml_text, created_at) "
                               "SELECT '', name, yaml_text, created_at FROM profiles_v1")
    for table in ("jobs_v1", "profiles_v1"):
        connection.exec_driver_sql(f"DROP TABLE {table}")


# values the database can hold

def _text(field: str, value: str, max_chars: int | None = None) -> None:
    """ValueError unless `value` is a string both backends store as is."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, not {type(value).__name__}")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"{field} is {len(value)} characters long: at most {max_chars} allowed")
    if "\x00" in value:
        raise ValueError(f"{field} contains a NUL character (position {value.index(chr(0))}), which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{field} is not valid Unicode text: a lone surrogate at position {exc.start}") from None


def _is_storable(value: str) -> bool:
    """A lookup key the driver accepts (a key it cannot encode matches no row)."""
    try:
        _text("key", value)
    except ValueError:
        return False
    return True


def _printable(text: str) -> str:
    """A message made storable: lone surrogates and NUL as backslash escapes (errors are never refused)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _clamp(value: int) -> int:
    return min(max(int(value), 0), MAX_ROWS)


def _job_dict(job: Job, with_spec: bool = False, include_result: bool = True) -> dict:
    data = {"id": job.id, "owner": job.owner, "kind": job.kind, "status": job.status, "progress": job.progress,
            "created_at": job.created_at, "updated_at": job.updated_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "seed": job.seed, "error": job.error, "name": _scenario_name(job.spec_json)}
    if include_result:
        data["result"] = json.loads(job.result_json) if job.result_json else None
    if with_spec:
        data["spec"] = json.loads(job.spec_json)
    return data


def _scenario_name(spec_json: str) -> str | None:
    """The scenario's name (plans and sweeps carry the scenario inside their body)."""
    try:
        spec = json.loads(spec_json)
    except (TypeError, ValueError):
        return None
    spec = spec.get("scenario", spec) if isinstance(spec, dict) else {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) else None
