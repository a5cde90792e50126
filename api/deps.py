"""Dependencies as `Annotated` aliases: settings, store, job runner, metrics, and the caller (tenant).

With API keys configured, every job, result, uploaded profile and idempotency key belongs to the
key that created it (stored as `key_owner(key)`, a SHA-256); other keys get 404. The admin key
(`CTXPLAN_ADMIN_API_KEY`, none by default) reads every tenant's jobs. Without keys the service is
single-tenant: everything belongs to owner "".
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.jobs import JobRunner
from api.metrics import Metrics
from api.settings import Settings, key_owner
from api.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True, slots=True)
class Caller:
    owner: str           # what the caller's jobs and profiles are stored under
    admin: bool = False  # reads every owner's jobs

    @property
    def reads_as(self) -> str | None:
        """The owner filter for reading jobs: None (every owner) for the admin and single-tenant services."""
        return None if self.admin else self.owner


def _same(offered: str, key: str) -> bool:
    # header values arrive as latin-1 text; compare bytes so non-ASCII keys are a mismatch, not a TypeError
    return hmac.compare_digest(offered.encode("latin-1", "replace"), key.encode("utf-8", "replace"))


def _offered_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:]
    return None


def identify(settings: Settings, authorization: str | None, x_api_key: str | None) -> Caller:
    """The caller of a request, or 401."""
    if not settings.auth_enabled():
        return Caller(owner="", admin=True)
    offered = _offered_key(authorization, x_api_key)
    if offered is not None:
        admin = settings.admin_api_key.strip()
        if admin and _same(offered, admin):
            return Caller(owner=key_owner(admin), admin=True)
        for key in settings.key_set():
            if _same(offered, key):
                return Caller(owner=key_owner(key))
    raise HTTPException(status_code=401, detail="missing or invalid API key (X-API-Key or Authorization: Bearer)",
                        headers={"WWW-Authenticate": "Bearer"})


# documented in OpenAPI as security schemes; checked by `identify` (auto_error off: 401 is ours)
ApiKeyHeader = APIKeyHeader(name="X-API-Key", auto_error=False, description="a tenant or admin key")
BearerHeader = HTTPBearer(auto_error=False, description="the same key as a bearer token")


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return f"Bearer {credentials.credentials}" if credentials is not None else None


def require_caller(settings: SettingsDep, x_api_key: Annotated[str | None, Security(ApiKeyHeader)] = None,
                   bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BearerHeader)] = None) -> Caller:
    return identify(settings, _bearer(bearer), x_api_key)


def require_docs_access(settings: SettingsDep, x_api_key: Annotated[str | None, Security(ApiKeyHeader)] = None,
                        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BearerHeader)] = None) -> None:
    """/docs, /redoc, /openapi.json and /metrics: open when `docs_public()`, else any valid key."""
    if not settings.docs_public():
        identify(settings, _bearer(bearer), x_api_key)


CallerDep = Annotated[Caller, Depends(require_caller)]
