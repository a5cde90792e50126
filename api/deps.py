"""Dependencies as `Annotated` aliases: settings, store, job runner, metrics, API-key check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.jobs import JobRunner
from api.metrics import Metrics
from api.settings import Settings
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


def require_api_key(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None,
                    x_api_key: Annotated[str | None, Header()] = None) -> None:
    keys = settings.key_set()
    if not keys:
        return
    offered = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ")
                            else None)
    if offered is None or not any(secrets.compare_digest(offered, key) for key in keys):
        raise HTTPException(status_code=401, detail="missing or invalid API key (X-API-Key or Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})
