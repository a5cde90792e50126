"""The OpenAPI document and its pages: error bodies for every status a route returns, the job
request bodies described by the scenario schemas (JSON or YAML), and Swagger UI / ReDoc served
from assets installed with the `fastapi-offline` package, so `/docs` works without a network.

Whether `/docs`, `/redoc` and `/openapi.json` need a key follows `CTXPLAN_PUBLIC_DOCS` (see
`api.deps.require_docs_access`).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from api.deps import require_docs_access

ASSETS = files("fastapi_offline") / "static"
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
STATUS_TEXT = {400: "Malformed request", 401: "Missing or invalid API key", 404: "Not found (or another tenant's)",
               408: "Body not received in time", 409: "Conflict", 413: "Body too large",
               415: "Unsupported Content-Type", 422: "Invalid input: the detail names the field",
               429: "Job queue full: retry after Retry-After seconds", 503: "Overloaded: retry after Retry-After"}
SCHEMA_REF = "#/components/schemas/{model}"


class ErrorItem(BaseModel):
    loc: list[Union[str, int]]
    msg: str
    type: str
    input: Any = None


class ErrorBody(BaseModel):
    detail: Union[str, list[ErrorItem]]


def error_responses(*codes: int) -> dict[int, dict]:
    """`responses=` for a route: each status it can return, with the error body. Every route may also
    answer 408/413 (bodies), 422 (a refused body shape) and 503 (load shedding)."""
    every = {*codes, 503} | ({408, 413} if {413, 415} & set(codes) else set())
    return {code: {"model": ErrorBody, "description": STATUS_TEXT[code]} for code in sorted(every)}


_BODIES = {"simulation": ["ScenarioSpec"], "comparison": ["ComparisonSpec", "ScenarioSpec"],
           "plan": ["PlanRequest"], "sweep": ["SweepRequest"]}


def _refs(names: list[str], description: str = "") -> dict:
    refs = [{"$ref": SCHEMA_REF.format(model=name)} for name in names]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {**schema, "description": description} if description and len(refs) == 1 else schema


_SERVING = {"name": "example", "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 2},
                                            "prompt_tokens": {"dist": "constant", "value": 200},
                                            "output_tokens": {"dist": "constant", "value": 10}},
            "slo": {"ttft_s": 1.0}, "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}
_CHAT = {"name": "chat-example",
         "conversations": {"num_sessions": 5, "arrival": {"process": "poisson", "rate_per_s": 1},
                           "turns": {"dist": "constant", "value": 2},
                           "user_tokens": {"dist": "constant", "value": 50},
                           "output_tokens": {"dist": "constant", "value": 10}},
         "deployments": [{"name": "chat", "kind": "llm", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"}}]}
EXAMPLES = {"simulation": _SERVING, "comparison": _CHAT,
            "plan": {"scenario": _SERVING, "target_qps": 2, "seeds": 1, "max_gpus": 2, "capacity": False},
            "sweep": {"scenario": _SERVING, "params": ["workload.arrival.rate_per_s=1,2"]}}


def job_body(kind: str) -> dict:
    """`openapi_extra` of a job route: its body by schema, as JSON or YAML, with a small valid example."""
    schema = _refs(_BODIES[kind])
    content = {"schema": schema, "example": EXAMPLES[kind]}
    return {"requestBody": {"required": True, "content": {"application/json": content,
                                                          "application/yaml": content}}}


def _components() -> dict[str, dict]:
    from api.schemas import PlanRequest, SweepRequest
    from simulator.specs.comparison import ComparisonSpec
    from simulator.specs.scenario import ScenarioSpec
    out: dict[str, dict] = {}
    for model in (ScenarioSpec, ComparisonSpec, PlanRequest, SweepRequest):
        schema = model.model_json_schema(ref_template=SCHEMA_REF)
        out.update(schema.pop("$defs", {}))
        for name, prop in list(schema.get("properties", {}).items()):
            refs = prop.get("x-ctxplan-scenario")
            if refs:   # one reference; several as a plain object (schemathesis cannot negate anyOf there)
                schema["properties"][name] = (_refs(refs, prop.get("description", "")) if len(refs) == 1 else
                                              {"type": "object", "description": f"{prop.get('description', '')}: "
                                               f"one of {', '.join(refs)} (see their schemas)"})
        out[model.__name__] = schema
    return out


def install_openapi(app: FastAPI) -> None:
    """Build the document once, with the job body schemas among its components."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _components().items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema
    app.openapi = openapi


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(require_docs_access)])

    @router.get("/openapi.json")
    def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} API",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)

    @router.get("/docs-assets/{name}")
    def asset(name: str) -> FileResponse:
        if name not in ASSET_TYPES:
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(str(ASSETS / name), media_type=ASSET_TYPES[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    return router
