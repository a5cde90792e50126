"""Simulation, comparison, plan and sweep jobs: create (202 + Location), read, list, cancel.

A body is parsed and validated in the validation pool (off the event loop); jobs, results and
idempotency keys belong to the caller's key (see `api.deps`).
"""

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from api.job_status import TERMINAL, JobStatus
from api.deps import CallerDep, RunnerDep, SettingsDep, StoreDep
from api.jobspec import JSON_TYPES, YAML_TYPES, Limits, Refusal
from api.openapi_docs import error_responses, job_body
from api.schemas import Job, JobCreated, JobPage
from api.validation import shared_pool

KINDS = {"simulation": "simulations", "comparison": "comparisons", "plan": "plans", "sweep": "sweeps"}
MAX_OFFSET = 1_000_000_000


def _refused(refusal: Refusal) -> HTTPException:
    headers = {"Retry-After": "5"} if refusal.status == 503 else None
    return HTTPException(status_code=refusal.status, detail=refusal.detail, headers=headers)


def make_router(kind: str) -> APIRouter:
    plural = KINDS[kind]
    router = APIRouter(prefix=f"/v1/{plural}", tags=[plural])

    links = {name: {"operationId": f"{name}_{kind}", "parameters": {"job_id": "$response.body#/id"}}
             for name in ("get", "cancel")}

    @router.post("", status_code=202, openapi_extra=job_body(kind), operation_id=f"create_{kind}",
                 responses={**error_responses(400, 401, 409, 413, 415, 422, 429, 503),
                            202: {"description": "Accepted: the job is queued", "links": links}})
    async def create(request: Request, response: Response, store: StoreDep, runner: RunnerDep,
                     settings: SettingsDep, caller: CallerDep,
                     seed: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JobCreated:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type not in YAML_TYPES + JSON_TYPES:
            raise HTTPException(status_code=415, detail=f"unsupported Content-Type {content_type[:100]!r}; send "
                                                        "application/json or application/yaml")
        raw = await request.body()
        try:
            accepted = await shared_pool(settings.validation_workers).validate(
                kind, raw, content_type, frozenset(store.profile_names(caller.owner)), Limits.from_settings(settings),
                settings.validation_timeout_s)
        except Refusal as refusal:
            raise _refused(refusal) from None
        try:
            job, created = store.create_job(kind, accepted.spec, seed, idempotency_key,
                                            f"{accepted.body_hash}:{seed}", owner=caller.owner)
        except KeyError as exc:
            raise HTTPException(status_code=409, detail=str(exc).strip("'\"")) from None
        except ValueError as exc:              # a value the database cannot hold (e.g. the Idempotency-Key)
            raise HTTPException(status_code=422, detail=[{"loc": ["header", "idempotency-key"], "msg": str(exc),
                                                          "type": "value_error"}]) from None
        if created:
            if store.count(JobStatus.QUEUED) > settings.max_queued_jobs:
                store.discard_job(job["id"])        # never queued: a retry with the same key submits anew
                raise HTTPException(status_code=429, detail=f"job queue is full ({settings.max_queued_jobs} queued)",
                                    headers={"Retry-After": "10"})
            runner.submit(job["id"])
        response.headers["Location"] = f"/v1/{plural}/{job['id']}"
        return JobCreated(id=job["id"], status=job["status"])

    @router.get("", responses=error_responses(401, 422), operation_id=f"list_{plural}")
    def list_jobs(store: StoreDep, caller: CallerDep, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JobPage:
        items, total = store.list_jobs(kind, offset, limit, owner=caller.reads_as)
        return JobPage(items=[_public(item) for item in items], total=total, offset=offset, limit=limit)

    def owned(job_id: str, store, caller) -> dict:
        job = store.get_job(job_id, owner=caller.reads_as)
        if job is None or job["kind"] != kind:
            raise HTTPException(status_code=404, detail=f"no {kind} {job_id[:100]!r}")
        return job

    @router.get("/{job_id}", responses=error_responses(401, 404, 422), operation_id=f"get_{kind}")
    def get_job(job_id: str, store: StoreDep, caller: CallerDep) -> Job:
        return _public(owned(job_id, store, caller))

    @router.delete("/{job_id}", responses=error_responses(401, 404, 409, 422), operation_id=f"cancel_{kind}")
    def cancel(job_id: str, store: StoreDep, runner: RunnerDep, caller: CallerDep) -> Job:
        job = owned(job_id, store, caller)
        if job["status"] in TERMINAL:
            raise HTTPException(status_code=409, detail=f"{kind} {job_id} already {job['status']}")
        runner.cancel(job_id)
        return _public(store.get_job(job_id))

    return router


def _public(job: dict) -> Job:
    return Job(**{key: value for key, value in job.items() if key not in ("owner", "spec")})
