"""Simulation, comparison, plan and sweep jobs: create (202 + Location), read, list, cancel."""

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from api.deps import RunnerDep, SettingsDep, StoreDep
from api.jobs import QueueFull
from api.jobspec import parse_job, parse_plan_or_sweep, read_document
from api.schemas import Job, JobCreated, JobPage

KINDS = {"simulation": "simulations", "comparison": "comparisons", "plan": "plans", "sweep": "sweeps"}
YAML_BODY = {"requestBody": {"content": {
    "application/json": {"schema": {"type": "object"}},
    "application/yaml": {"schema": {"type": "string"}}}, "required": True}}


def make_router(kind: str) -> APIRouter:
    plural = KINDS[kind]
    router = APIRouter(prefix=f"/v1/{plural}", tags=[plural])

    @router.post("", status_code=202, openapi_extra=YAML_BODY)
    async def create(request: Request, response: Response, store: StoreDep, runner: RunnerDep,
                     settings: SettingsDep, seed: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JobCreated:
        data, body_hash = await read_document(request)
        spec = (parse_plan_or_sweep(data, kind, settings, store) if kind in ("plan", "sweep")
                else parse_job(data, kind, settings, store))
        try:
            job, created = store.create_job(kind, spec.model_dump(mode="json"), seed, idempotency_key,
                                            f"{body_hash}:{seed}")
        except KeyError as exc:
            raise HTTPException(status_code=409, detail=str(exc).strip("'\"")) from None
        if created:
            try:
                runner.submit(job["id"])
            except QueueFull:
                store.set_status(job["id"], "cancelled", only_from=("queued",), error="queue full")
                raise HTTPException(status_code=429, detail=f"job queue is full ({settings.max_queued_jobs} queued)",
                                    headers={"Retry-After": "10"}) from None
        response.headers["Location"] = f"/v1/{plural}/{job['id']}"
        return JobCreated(id=job["id"], status=job["status"])

    @router.get("")
    def list_jobs(store: StoreDep, offset: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JobPage:
        items, total = store.list_jobs(kind, offset, limit)
        return JobPage(items=[Job(**item) for item in items], total=total, offset=offset, limit=limit)

    @router.get("/{job_id}")
    def get_job(job_id: str, store: StoreDep) -> Job:
        job = store.get_job(job_id)
        if job is None or job["kind"] != kind:
            raise HTTPException(status_code=404, detail=f"no {kind} {job_id!r}")
        return Job(**job)

    @router.delete("/{job_id}")
    def cancel(job_id: str, store: StoreDep, runner: RunnerDep) -> Job:
        job = store.get_job(job_id)
        if job is None or job["kind"] != kind:
            raise HTTPException(status_code=404, detail=f"no {kind} {job_id!r}")
        if job["status"] in ("succeeded", "failed", "cancelled"):
            raise HTTPException(status_code=409, detail=f"{kind} {job_id} already {job['status']}")
        runner.cancel(job_id)
        return Job(**store.get_job(job_id))

    return router
