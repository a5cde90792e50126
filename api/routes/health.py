from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import MetricsDep, RunnerDep, StoreDep
from simulator import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict:
    store.count("running")      # touches the database
    return {"status": "ok", "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(metrics: MetricsDep, runner: RunnerDep) -> str:
    return metrics.render(runner.depth(), len(runner.processes))
