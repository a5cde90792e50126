"""Service settings: one pydantic-settings object, read from `CTXPLAN_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTXPLAN_", extra="ignore")

    database_url: str = Field(default="sqlite:///ctxplan.db", description="any SQLAlchemy URL")
    api_keys: str = Field(default="", description="comma-separated keys; empty = no authentication")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    job_workers: int = Field(default=1, ge=1, le=64, description="simulation processes running at once")
    max_queued_jobs: int = Field(default=32, ge=1, le=100_000)
    job_timeout_s: float = Field(default=900.0, gt=0)
    max_requests_per_job: int = Field(default=2_000_000, ge=1)
    max_deployments_per_job: int = Field(default=16, ge=1)
    max_simulations_per_job: int = Field(default=2_000, ge=1, description="plans and sweeps: simulation runs")
    requeue_interrupted: bool = False
    log_level: str = "INFO"

    def key_set(self) -> set[str]:
        return {k.strip() for k in self.api_keys.split(",") if k.strip()}
