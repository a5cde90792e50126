"""The HTTP service: `create_app()` assembles settings, store, job runner, middleware and routers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.jobs import JobRunner
from api.metrics import Metrics
from api.middleware import ServiceMiddleware, configure_logging
from api.routes import catalog, estimate, health, jobs, scenarios, web
from api.settings import Settings
from api.store import Store
from api.deps import require_api_key
from fastapi import Depends
from simulator import __version__
from simulator.errors import InputError

log = logging.getLogger("ctxplan.service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.store = Store(settings.database_url)
        app.state.runner = JobRunner(settings, app.state.store, metrics)
        await app.state.runner.start()
        log.info("started", extra={"fields": {"database_url": settings.database_url.split("@")[-1],
                                              "job_workers": settings.job_workers}})
        yield
        await app.state.runner.stop()

    app = FastAPI(title="ctxplan", version=__version__, lifespan=lifespan,
                  description="Cost and capacity planning for long-context LLM serving.")
    app.state.settings = settings
    app.state.metrics = metrics
    secured = [Depends(require_api_key)]
    app.include_router(health.router)
    app.include_router(web.router)
    for router in (catalog.router, estimate.router, jobs.make_router("simulation"), jobs.make_router("comparison"),
                   jobs.make_router("plan"), jobs.make_router("sweep"),
                   scenarios.router):
        app.include_router(router, dependencies=secured)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors()[:20]:   # echo inputs only when they are plain JSON values
            item = {"loc": list(err.get("loc", ())), "msg": err.get("msg", "invalid"), "type": err.get("type", "")}
            value = err.get("input")
            if isinstance(value, (int, float, str, bool)) and len(str(value)) <= 200:
                item["input"] = value
            errors.append(item)
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError):
        return JSONResponse(status_code=422, content={"detail": [{"loc": ["body", exc.field or ""], "msg": str(exc),
                                                                  "type": "value_error"}]})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):   # a bug, never client input: log it loudly
        log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    app.add_middleware(ServiceMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app
