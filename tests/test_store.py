"""The job and profile store on SQLite and PostgreSQL: tenancy, idempotency, limits, atomic transitions, migration."""

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Float, Integer, String, Text, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from api.store import MAX_SEED, SCHEMA_VERSION, Store, make_engine

A, B = "a" * 64, "b" * 64        # owners as the service passes them: SHA-256 hex of an API key
SPEC = {"name": "tiny", "workload": {"num_requests": 1}}
SERVICE_HASH = "f" * 64 + ":9223372036854775807"     # what the routes pass as body_hash (84 characters)


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    yield store
    store.close()



def run_together(action, barrier: threading.Barrier, errors: list) -> None:
    """`action` in `barrier.parties` threads released at once; exceptions collected in `errors`."""
    def body() -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:    # collected for the caller's assertion
            errors.append(exc)
    threads = [threading.Thread(target=body) for _ in range(barrier.parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

def test_create_get_and_list_are_per_owner(store):
    first, created = store.create_job("simulation", SPEC, 3, None, None, owner=A)
    assert created and first["owner"] == A and first["status"] == "queued" and first["name"] == "tiny"
    second, _ = store.create_job("simulation", SPEC, None, None, None, owner=B)
    store.create_job("sweep", {"scenario": SPEC}, None, None, None, owner=A)

    assert store.get_job(first["id"], owner=A)["seed"] == 3
    assert store.get_job(first["id"], owner=B) is None
    assert store.get_job(first["id"])["owner"] == A                  # owner=None: any owner
    assert store.get_job(first["id"], with_spec=True)["spec"] == SPEC
    items, total = store.list_jobs("simulation", 0, 10, owner=A)
    assert [job["id"] for job in items] == [first["id"]] and total == 1 and "result" not in items[0]
    items, total = store.list_jobs("simulation", 0, 10)
    assert [job["id"] for job in items] == [second["id"], first["id"]] and total == 2   # newest first
    assert store.list_jobs("simulation", 1, 10) == ([items[1]], 2)
    assert store.list_jobs("simulation", 0, 10, owner="c" * 64) == ([], 0)
    assert store.count("queued") == store.count_queued() == 3 and store.count("running") == 0


def test_idempotency_keys_are_per_owner(store):
    job, created = store.create_job("simulation", SPEC, None, "k1", SERVICE_HASH, owner=A)
    again, created_again = store.create_job("simulation", SPEC, None, "k1", SERVICE_HASH, owner=A)
    assert created and not created_again and again["id"] == job["id"]
    with pytest.raises(KeyError, match="different body"):
        store.create_job("simulation", SPEC, None, "k1", "other", owner=A)
    other, created_other = store.create_job("simulation", SPEC, None, "k1", "other", owner=B)
    assert created_other and other["id"] != job["id"]
    empty_key = [store.create_job("simulation", SPEC, None, "", None, owner=A)[0]["id"] for _ in range(2)]
    assert len(set(empty_key)) == 2                                  # "" is no key


def test_discard_deletes_only_a_queued_job_and_frees_its_key(store):
    job, _ = store.create_job("simulation", SPEC, None, "k", "h", owner=A)
    assert store.discard_job(job["id"]) and store.get_job(job["id"]) is None
    assert not store.discard_job(job["id"])
    retry, created = store.create_job("simulation", SPEC, None, "k", "h", owner=A)
    assert created and retry["id"] != job["id"]
    assert store.set_status(retry["id"], "running", only_from=("queued",))
    assert not store.discard_job(retry["id"]) and store.get_job(retry["id"])["status"] == "running"
    requeued, _ = store.create_job("simulation", SPEC, None, None, None)
    store.set_status(requeued["id"], "running")
    store.recover(requeue=True)                                      # queued again, but it ran once
    assert store.get_job(requeued["id"])["status"] == "queued" and not store.discard_job(requeued["id"])


def test_profiles_are_per_owner(store):
    store.put_profile("gpu", "name: gpu\nowner: a\n", owner=A)
    store.put_profile("gpu", "name: gpu\nowner: b\n", owner=B)
    store.put_profile("other", "name: other\n", owner=A)
    assert store.get_profile("gpu", owner=A) == "name: gpu\nowner: a\n"
    assert store.get_profile("gpu", owner=B) == "name: gpu\nowner: b\n"
    assert store.get_profile("gpu") is None and store.profiles() == {}
    assert store.profiles(A) == {"gpu": "name: gpu\nowner: a\n", "other": "name: other\n"}
    store.put_profile("gpu", "name: gpu\nv: 2\n", owner=A)             # replaces A's only
    assert store.get_profile("gpu", owner=A) == "name: gpu\nv: 2\n"
    assert store.profiles(B) == {"gpu": "name: gpu\nowner: b\n"}


def test_integers_at_the_64_bit_limits(store):
    job, _ = store.create_job("simulation", SPEC, MAX_SEED, None, None)
    assert store.get_job(job["id"])["seed"] == 2**63 - 1
    for seed in (2**63, -1):
        with pytest.raises(ValueError, match="seed"):
            store.create_job("simulation", SPEC, seed, None, None)
    assert store.list_jobs("simulation", 9223372036854775808, 50) == ([], 1)
    assert store.list_jobs("simulation", 2**100, 2**100) == ([], 1)
    items, total = store.list_jobs("simulation", -5, 9223372036854775808)
    assert [item["id"] for item in items] == [job["id"]] and total == 1


def test_text_the_database_cannot_hold_is_a_value_error_or_matches_nothing(store):
    spec = {"name": "\ud800", "note": "a\x00b", "\udc00": [1]}
    job, _ = store.create_job("simulation", spec, None, None, None)
    assert store.get_job(job["id"], with_spec=True)["spec"] == spec       # json.dumps escapes them
    for call, field in [(lambda: store.put_profile("gpu", "name: \ud800"), "profile text"),
                        (lambda: store.put_profile("gpu", "a\x00"), "profile text"),
                        (lambda: store.put_profile("g\ud800", "x: 1"), "profile name"),
                        (lambda: store.put_profile("g" * 101, "x: 1"), "profile name"),
                        (lambda: store.create_job("simulation", SPEC, None, "k\ud800", None), "idempotency_key"),
                        (lambda: store.create_job("simulation", SPEC, None, "k\x00", None), "idempotency_key"),
                        (lambda: store.create_job("simulation", SPEC, None, "k" * 201, None), "idempotency_key"),
                        (lambda: store.create_job("simulation", SPEC, None, None, None, owner="\ud800"), "owner")]:
        with pytest.raises(ValueError, match=field):
            call()
    for key in ("\ud800", "a\x00", "x" * 1000):
        assert store.get_job(key) is None and store.get_job(job["id"], owner=key) is None
        assert store.get_profile(key) is None and store.profiles(key) == {} and not store.discard_job(key)
        assert not store.set_status(key, "cancelled") and store.list_jobs("simulation", 0, 1, owner=key) == ([], 0)
    assert store.set_status(job["id"], "failed", error="bad \ud800 and \x00")
    assert store.get_job(job["id"])["error"] == "bad \\ud800 and \\x00"


def test_only_from_transitions_are_atomic_under_contention(store):
    threads_per_job = 8
    for _ in range(3):
        job, _ = store.create_job("simulation", SPEC, None, None, None)
        barrier = threading.Barrier(threads_per_job)
        outcomes: dict[int, bool] = {}   # thread index -> its transition happened

        def contend(index: int) -> None:
            target = "running" if index % 2 else "cancelled"
            barrier.wait()
            outcomes[index] = store.set_status(job["id"], target, only_from=("queued",))
        threads = [threading.Thread(target=contend, args=(i,)) for i in range(threads_per_job)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [i for i, changed in outcomes.items() if changed]
        assert len(outcomes) == threads_per_job and len(winners) == 1
        assert store.get_job(job["id"])["status"] == ("running" if winners[0] % 2 else "cancelled")


def test_concurrent_submissions_with_one_key_create_one_job(store):
    barrier = threading.Barrier(6)
    results: list[tuple[str, bool]] = []   # (job id, created) per thread
    errors: list[BaseException] = []

    def submit() -> None:
        job, created = store.create_job("simulation", SPEC, None, "same", "h", owner=A)
        results.append((job["id"], created))
    run_together(submit, barrier, errors)
    assert errors == [] and len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 5 + [True]


def test_status_progress_and_recovery(store):
    running, _ = store.create_job("simulation", SPEC, None, None, None)
    queued, _ = store.create_job("simulation", SPEC, None, None, None)
    assert store.set_status(running["id"], "running", only_from=("queued",))
    assert not store.set_status(running["id"], "running", only_from=("queued",))
    store.set_progress(running["id"], 0.5)
    store.set_progress(queued["id"], 0.5)                            # only running jobs report progress
    job = store.get_job(running["id"])
    assert job["progress"] == 0.5 and job["started_at"] and store.get_job(queued["id"])["progress"] == 0.0
    assert store.recover(requeue=False) == ([queued["id"]], [running["id"]])
    job = store.get_job(running["id"])
    assert job["status"] == "failed" and job["error"] == "interrupted" and job["finished_at"]
    assert store.set_status(queued["id"], "running")
    assert store.recover(requeue=True) == ([queued["id"]], [])
    assert store.set_status(queued["id"], "running")
    assert store.set_status(queued["id"], "succeeded", only_from=("running",), progress=1.0,
                            result_json=json.dumps({"x": [1, 2]}))
    assert store.get_job(queued["id"])["result"] == {"x": [1, 2]}


def test_processes_opening_a_fresh_database_at_once_create_it_once(store_url):
    stores: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    run_together(lambda: stores.append(Store(store_url)), barrier, errors)
    assert errors == [] and len(stores) == 4
    stores[0].create_job("simulation", SPEC, None, None, None)
    assert all(s.count("queued") == 1 for s in stores)
    for s in stores:
        s.close()


# the version-1 schema, as ctxplan shipped it

class V1Base(DeclarativeBase):
    pass


class V1Job(V1Base):
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


class V1Profile(V1Base):
    __tablename__ = "profiles"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class V1Meta(V1Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


def test_a_version_1_database_is_migrated_in_place(store_url):
    engine = make_engine(store_url)
    V1Base.metadata.create_all(engine)
    stamp = "2025-01-01T00:00:00+00:00"
    with Session(engine) as session, session.begin():
        session.add_all([V1Meta(key="schema_version", value="1"),
                         V1Job(id="old-job", kind="simulation", status="succeeded", created_at=stamp, updated_at=stamp,
                               spec_json=json.dumps(SPEC), seed=7, progress=1.0, result_json='{"ok": true}',
                               idempotency_key="k", body_hash="h", finished_at=stamp),
                         V1Profile(name="gpu", yaml_text="name: gpu\n", created_at=stamp)])
    engine.dispose()

    store = Store(store_url)
    job = store.get_job("old-job", owner="")
    assert job["owner"] == "" and job["seed"] == 7 and job["result"] == {"ok": True} and job["name"] == "tiny"
    assert store.create_job("simulation", SPEC, None, "k", "h") == (job, False)
    assert store.create_job("simulation", SPEC, MAX_SEED, "k", SERVICE_HASH, owner=A)[1]   # 64-bit seed, long hash
    assert store.get_profile("gpu") == "name: gpu\n" and store.get_profile("gpu", owner=A) is None
    store.put_profile("gpu", "name: gpu\nmine: true\n", owner=A)
    assert store.get_profile("gpu") == "name: gpu\n"
    with store.engine.connect() as connection:
        assert connection.scalar(select(V1Meta.value)) == str(SCHEMA_VERSION) == "2"
        tables = inspect(connection)
        assert sorted(tables.get_table_names()) == ["jobs", "meta", "profiles"]
        assert tables.get_pk_constraint("profiles")["constrained_columns"] == ["owner", "name"]
        assert [c["column_names"] for c in tables.get_unique_constraints("jobs")] == [["owner", "idempotency_key"]]
    store.close()
    reopened = Store(store_url)                                      # already version 2: nothing to do
    assert reopened.list_jobs("simulation", 0, 10)[1] == 2
    reopened.close()


def test_a_newer_schema_is_refused(store_url):
    Store(store_url).close()
    engine = make_engine(store_url)
    with Session(engine) as session, session.begin():
        session.get(V1Meta, "schema_version").value = str(SCHEMA_VERSION + 1)
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer"):
        Store(store_url)


@pytest.mark.parametrize("url", ["postgres://u:p@db:5433/jobs", "postgresql://u@db/jobs"])
def test_postgresql_urls_are_driven_by_psycopg(url):
    engine = make_engine(url)
    assert engine.url.drivername == "postgresql+psycopg" and engine.url.database == "jobs"
    assert make_engine("postgresql+psycopg://u@db/jobs").url.drivername == "postgresql+psycopg"


TINY = {"name": "pg-e2e", "seed": 4,
        "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 5},
                     "prompt_tokens": {"dist": "constant", "value": 300},
                     "output_tokens": {"dist": "constant", "value": 20}},
        "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}


def test_a_simulation_job_runs_end_to_end_on_postgresql(postgres_url):
    from api.main import create_app
    from api.settings import Settings
    with TestClient(create_app(Settings(database_url=postgres_url, log_level="ERROR"))) as client:
        created = client.post("/v1/simulations?seed=9", json=TINY, headers={"idempotency-key": "e2e"})
        assert created.status_code == 202, created.text
        again = client.post("/v1/simulations?seed=9", json=TINY, headers={"idempotency-key": "e2e"})
        assert again.json()["id"] == created.json()["id"]
        location = created.headers["location"]
        for _ in range(600):                     # the worker process writes to PostgreSQL; no time is asserted
            job = client.get(location).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        page = client.get("/v1/simulations?offset=0&limit=5").json()
        assert page["total"] == 1 and page["items"][0]["id"] == job["id"]
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    assert job["result"] == json.loads(json.dumps(run(ScenarioSpec.model_validate(TINY), seed=9).to_json_dict()))


def test_job_status_values_are_the_api_ones():
    """One enum for the runner and store; the API's schema lists the same five values, unchanged."""
    from typing import get_args

    from api import schemas
    from api.job_status import TERMINAL, JobStatus
    assert [s.value for s in JobStatus] == ["queued", "running", "succeeded", "failed", "cancelled"]
    assert set(get_args(schemas.JobStatus)) == {s.value for s in JobStatus}
    assert set(TERMINAL) == {"succeeded", "failed", "cancelled"}
