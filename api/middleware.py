"""ASGI middleware: body-size limit (413), request ids, structured JSON access logs, request metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid

from api.metrics import Metrics

log = logging.getLogger("ctxplan.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                   "logger": record.name, "message": record.getMessage()}
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("ctxplan")
    root.handlers = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class ServiceMiddleware:
    def __init__(self, app, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        declared = headers.get("content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes
        body = b""
        if not too_big and scope["method"] in ("POST", "PUT", "PATCH"):
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body_bytes:
                    too_big = True
                    break
        if too_big:
            await self._reject(send_with_id, 413, f"request body exceeds {self.max_body_bytes} bytes")
        else:
            replayed = {"done": scope["method"] not in ("POST", "PUT", "PATCH")}

            async def replay():
                if not replayed["done"]:
                    replayed["done"] = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()
            await self.app(scope, replay, send_with_id)
        seconds = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.observe_request(scope["method"], route, status["code"], seconds)
        log.info("request", extra={"fields": {"request_id": request_id, "method": scope["method"],
                                              "path": scope["path"], "status": status["code"],
                                              "duration_ms": round(seconds * 1e3, 2)}})

    @staticmethod
    async def _reject(send, code: int, detail: str) -> None:
        payload = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
