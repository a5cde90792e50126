"""Persistent store: jobs, their results, and uploaded hardware profiles (SQLAlchemy 2).

SQLite by default (WAL mode, so job processes can write progress while the API reads); any
SQLAlchemy URL works. A finished job's result is written in the same transaction that marks it
succeeded, so it is never lost by a crash. The schema carries a version row.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import Float, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SCHEMA_VERSION = 1
TERMINAL = ("succeeded", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))
    spec_json: Mapped[str] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    body_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Profile(Base):
    __tablename__ = "profiles"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        with Session(self.engine) as session, session.begin():
            version = session.get(Meta, "schema_version")
            if version is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(version.value) > SCHEMA_VERSION:
                raise RuntimeError(f"database schema {version.value} is newer than this ctxplan ({SCHEMA_VERSION})")

    def create_job(self, kind: str, spec: dict, seed: int | None, idempotency_key: str | None,
                   body_hash: str | None) -> tuple[dict, bool]:
        """(job, created): an existing job with the same idempotency key and body is returned as is."""
        with Session(self.engine) as session, session.begin():
            if idempotency_key:
                existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
                if existing is not None:
                    if existing.body_hash != body_hash:
                        raise KeyError("Idempotency-Key reused with a different body")
                    return _job_dict(existing), False
            stamp = now()
            job = Job(id=str(uuid.uuid4()), kind=kind, status="queued", created_at=stamp, updated_at=stamp,
                      spec_json=json.dumps(spec), seed=seed, progress=0.0, idempotency_key=idempotency_key,
                      body_hash=body_hash)
            session.add(job)
            session.flush()
            return _job_dict(job), True

    def get_job(self, job_id: str, with_spec: bool = False) -> dict | None:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            return _job_dict(job, with_spec) if job else None

    def list_jobs(self, kind: str, offset: int, limit: int) -> tuple[list[dict], int]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Job).where(Job.kind == kind).order_by(Job.created_at.desc(), Job.id)
                                   .offset(offset).limit(limit)).all()
            total = len(session.scalars(select(Job.id).where(Job.kind == kind)).all())
            return [_job_dict(r, include_result=False) for r in rows], total

    def set_status(self, job_id: str, status: str, *, only_from: tuple[str, ...] | None = None, **fields) -> bool:
        """Move a job to `status` (optionally only from the given states); True when it changed."""
        values = {"status": status, "updated_at": now(), **fields}
        if status == "running":
            values.setdefault("started_at", now())
        if status in TERMINAL:
            values.setdefault("finished_at", now())
        with Session(self.engine) as session, session.begin():
            statement = update(Job).where(Job.id == job_id)
            if only_from:
                statement = statement.where(Job.status.in_(only_from))
            return session.execute(statement.values(**values)).rowcount > 0

    def set_progress(self, job_id: str, progress: float) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                            .values(progress=progress, updated_at=now()))

    def recover(self, requeue: bool) -> tuple[list[str], list[str]]:
        """After a crash: running jobs become failed (`interrupted`) or queued again; returns (queued ids, interrupted ids)."""
        with Session(self.engine) as session, session.begin():
            running = session.scalars(select(Job.id).where(Job.status == "running")).all()
            if requeue:
                session.execute(update(Job).where(Job.status == "running")
                                .values(status="queued", progress=0.0, updated_at=now()))
            else:
                session.execute(update(Job).where(Job.status == "running")
                                .values(status="failed", error="interrupted", updated_at=now(), finished_at=now()))
            queued = session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)).all()
            return list(queued), [] if requeue else list(running)

    def count(self, status: str) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(Job.id).where(Job.status == status)).all())

    def put_profile(self, name: str, yaml_text: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.merge(Profile(name=name, yaml_text=yaml_text, created_at=now()))

    def get_profile(self, name: str) -> str | None:
        with Session(self.engine) as session:
            profile = session.get(Profile, name)
            return profile.yaml_text if profile else None

    def profiles(self) -> dict[str, str]:
        with Session(self.engine) as session:
            return {p.name: p.yaml_text for p in session.scalars(select(Profile)).all()}


def _job_dict(job: Job, with_spec: bool = False, include_result: bool = True) -> dict:
    data = {"id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress,
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
