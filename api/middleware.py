"""ASGI middleware: overload shedding (503), body limits and read timeouts (413/408), a nesting and
non-finite-number guard for the small JSON bodies FastAPI parses itself (422), security headers,
request ids, structured JSON access logs, request metrics.

Request ids are `asgi-correlation-id`'s (`X-Request-ID`: the client's, cleaned to at most 64 of
`[A-Za-z0-9-_.]`, or a fresh uuid4 hex; on every reply, shed ones included); log lines are JSON
objects written by `python-json-logger` (`time`, `level`, `logger`, `message`, then the `extra`
fields), one access line per request with its request id.

Job bodies (scenarios, plans, sweeps) are only size-limited here: they are parsed and validated in
the validation pool (`api.validation`), off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from asgi_correlation_id import correlation_id
from pythonjsonlogger.json import JsonFormatter

from api.jobspec import shape_problem
from api.metrics import Metrics

log = logging.getLogger("ctxplan.access")

JOB_COLLECTIONS = ("/v1/simulations", "/v1/comparisons", "/v1/plans", "/v1/sweeps")
UNSHED = ("/healthz",)                         # health checks answer even when the service sheds load
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", b"frame-ancestors 'none'"), (b"referrer-policy", b"no-referrer")]


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the `ctxplan` loggers; a record's `extra` fields become keys of its line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("{asctime}{levelname}{name}{message}", style="{",
                                       datefmt="%Y-%m-%dT%H:%M:%S%z",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    root = logging.getLogger("ctxplan")
    root.handlers = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def clean_request_id(offered: str) -> str:
    """The request id to use for a client's X-Request-ID: its first 64 characters, kept to [A-Za-z0-9-_.];
    a fresh uuid4 hex when nothing is left."""
    return "".join(c for c in offered[:64] if c.isascii() and (c.isalnum() or c in "-_.")) or uuid.uuid4().hex


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def small_json_problem(body: bytes, max_depth: int) -> str | None:
    """Why a small JSON body must be refused before FastAPI parses it (None: let it through)."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        return f"JSON nested deeper than {max_depth} levels"
    except ValueError as exc:   # malformed JSON included: FastAPI words that one itself, but say it once here
        return f"malformed JSON: {str(exc)[:200]}"
    return shape_problem(data, max_depth)


def allowed_methods(routes, scope) -> list[str]:
    """Every method the routes answer for this path (Starlette's 405 names only the first route's)."""
    from starlette.routing import Match
    methods = set()
    for route in routes:
        match, _ = route.matches({**scope, "method": "GET"}) if hasattr(route, "matches") else (Match.NONE, None)
        answers = getattr(route, "methods", None) or getattr(getattr(route, "app", None), "methods", None)
        if match is not Match.NONE and answers:          # a route, or a mounted app that names its methods
            methods |= set(answers)
    return sorted(methods)


class ServiceMiddleware:
    def __init__(self, app, settings, metrics: Metrics, routes=None) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.routes = routes           # () -> the app's routes, to list every method of a path on 405
        self.inflight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status = {"code": 500}
        entry_scope = dict(scope)      # routing rewrites root_path in `scope` on its way to a mounted app

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
                if message["status"] == 405 and self.routes is not None:
                    message["headers"] = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    allow = ", ".join(allowed_methods(self.routes(), entry_scope))
                    message["headers"].append((b"allow", allow.encode()))
            await send(message)

        shed = scope["path"] not in UNSHED and self.inflight >= self.settings.max_inflight_requests
        self.inflight += 1
        try:
            if shed:
                await _reply(send_with_headers, 503, "the service is at its limit of in-flight requests "
                                                     f"(max_inflight_requests={self.settings.max_inflight_requests});"
                                                     " retry shortly", [(b"retry-after", b"1")])
            else:
                await self._handle(scope, receive, send_with_headers, headers)
        finally:
            self.inflight -= 1
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], route, status["code"], seconds)
            log.info("request", extra={"request_id": correlation_id.get(), "method": scope["method"],
                                       "path": entry_scope["path"], "status": status["code"],
                                       "duration_ms": round(seconds * 1e3, 2)})

    async def _handle(self, scope, receive, send, headers: dict[str, str]) -> None:
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        is_job = scope["path"].rstrip("/") in JOB_COLLECTIONS
        limit = self.settings.max_body_bytes if is_job else self.settings.max_small_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _reply(send, 413, f"request body exceeds {limit} bytes")
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=self.settings.body_timeout_s)
            except asyncio.TimeoutError:
                return await _reply(send, 408, f"request body not received within body_timeout_s="
                                               f"{self.settings.body_timeout_s:g}", [(b"connection", b"close")])
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _reply(send, 413, f"request body exceeds {limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if not is_job and content_type == "application/json":
            problem = small_json_problem(body, self.settings.max_nesting_depth)
            if problem is not None:
                return await _reply(send, 422, [{"loc": ["body"], "msg": problem, "type": "value_error"}])
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        await self.app(scope, replay, send)


async def _reply(send, code: int, detail, extra_headers: list | None = None) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": payload})
