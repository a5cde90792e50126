"""The HTTP service: `create_app()` assembles settings, store, job runner, middleware and routers."""

from __future__ import annotations

import json
import logging
import math
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import require_caller
from api.jobs import JobRunner
from api.metrics import Metrics
from api.middleware import ServiceMiddleware, clean_request_id, configure_logging
from api.openapi_docs import docs_router, install_openapi
from api.routes import catalog, estimate, health, jobs, scenarios, web
from api.settings import Settings
from api.store import Store
from api.validation import shared_pool
from simulator import __version__
from simulator.catalog import hardware_rows, model_rows
from simulator.errors import InputError

log = logging.getLogger("ctxplan.service")


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped, so a lone surrogate in an echoed value cannot fail the encoding."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _echoable(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (int, str, bool)) and len(str(value)) <= 200


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model_rows(), hardware_rows()   # parse the catalogs once: concurrent first requests would each parse them
        app.state.store = Store(settings.database_url)
        app.state.runner = JobRunner(settings, app.state.store, metrics)
        shared_pool(settings.validation_workers).warm_up()
        await app.state.runner.start()
        log.info("started", extra={"database_url": settings.database_url.split("@")[-1],
                                   "job_workers": settings.job_workers})
        yield
        await app.state.runner.stop()

    app = FastAPI(title="ctxplan", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="Cost and capacity planning for long-context LLM serving.")
    app.state.settings = settings
    app.state.metrics = metrics
    install_openapi(app)
    secured = [Depends(require_caller)]
    app.include_router(health.router)
    app.include_router(web.router)
    app.mount("/static", web.WebAssets(), name="static")
    app.include_router(docs_router(app))
    for router in (catalog.router, estimate.router, jobs.make_router("simulation"), jobs.make_router("comparison"),
                   jobs.make_router("plan"), jobs.make_router("sweep"),
                   scenarios.router):
        app.include_router(router, dependencies=secured)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors()[:20]:   # echo inputs only when they are plain, finite JSON values
            item = {"loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
                    "msg": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))}
            value = err.get("input")
            if _echoable(value):
                item["input"] = value
            errors.append(item)
        return SafeJSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return SafeJSONResponse(status_code=exc.status_code, content={"detail": exc.detail},
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError):
        return SafeJSONResponse(status_code=422, content={"detail": [{"loc": ["body", exc.field or ""],
                                                                      "msg": str(exc), "type": "value_error"}]})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):   # a bug, never client input: log it loudly
        log.exception("unhandled error", extra={"path": request.url.path, "request_id": correlation_id.get()})
        return SafeJSONResponse(status_code=500, content={"detail": "internal error"})

    if settings.origins():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins(), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"])
    app.add_middleware(ServiceMiddleware, settings=settings, metrics=metrics, routes=lambda: app.routes)
    # outermost: the request id is set before anything (shedding included) can answer, and is on every reply
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID", validator=None,
                       transformer=clean_request_id)
    return app
