"""Request ids and JSON log lines through the real app: the X-Request-ID a client sends (cleaned) or a
fresh one on every reply, and one JSON access line per request carrying it."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings


def _app(tmp_path, **overrides):
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'log.db'}", log_level="INFO", **overrides))


@pytest.mark.parametrize("offered,echoed", [
    ("abc-DEF_1.2", "abc-DEF_1.2"),
    ("a b!c/d", "abcd"),
    ("x" * 70, "x" * 64),
    ("é-1".encode("latin-1"), "-1"),
])
def test_a_clients_request_id_is_echoed_cleaned(tmp_path, offered, echoed):
    with TestClient(_app(tmp_path)) as client:
        response = client.get("/healthz", headers={"x-request-id": offered})
        assert response.headers["x-request-id"] == echoed


def test_without_a_usable_request_id_each_reply_gets_a_fresh_one(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        ids = [client.get("/healthz", headers=headers).headers["x-request-id"]
               for headers in ({}, {}, {"x-request-id": "!!!"})]
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == 3
        refused = client.post("/v1/estimate", content=b"x" * (300 * 1024), headers={"content-type": "application/json"})
        assert refused.status_code == 413 and re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
        assert refused.headers["x-content-type-options"] == "nosniff"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_one_json_access_line_per_request_with_its_request_id(tmp_path, capsys):
    with TestClient(_app(tmp_path)) as client:
        capsys.readouterr()
        client.get("/v1/models", headers={"x-request-id": "trace-1"})
        client.get("/v1/nope", headers={"x-request-id": "trace-2"})
    access = [line for line in _lines(capsys.readouterr().err) if line["message"] == "request"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [
        ("trace-1", "GET", "/v1/models", 200), ("trace-2", "GET", "/v1/nope", 404)]
    first = access[0]
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "ctxplan.access"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", first["time"])
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0


def test_an_unexpected_error_is_a_bare_500_and_logged_with_its_traceback_and_request_id(tmp_path, capsys):
    app = _app(tmp_path)

    def boom():
        raise RuntimeError("a bug")
    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        response = client.get("/boom", headers={"x-request-id": "bug-1"})
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    errors = [line for line in _lines(capsys.readouterr().err) if line["message"] == "unhandled error"]
    assert len(errors) == 1 and errors[0]["level"] == "ERROR" and errors[0]["request_id"] == "bug-1"
    assert errors[0]["path"] == "/boom" and "RuntimeError: a bug" in errors[0]["exc_info"]
