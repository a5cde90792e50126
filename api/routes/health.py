from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from api.job_status import JobStatus
from api.deps import MetricsDep, RunnerDep, StoreDep, require_docs_access
from api.openapi_docs import error_responses
from api.response_models import Health
from simulator import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz", responses=error_responses())
def healthz(store: StoreDep) -> Health:
    store.count(JobStatus.RUNNING)      # touches the database
    return {"status": "ok", "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(require_docs_access)],
            responses=error_responses(401))
def metrics(metrics: MetricsDep, runner: RunnerDep) -> str:
    """Prometheus text; needs a key unless CTXPLAN_PUBLIC_DOCS (default: public only without keys)."""
    return metrics.render(runner.depth(), runner.running())
